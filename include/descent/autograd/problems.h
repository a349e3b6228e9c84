#pragma once
// Analytic test problems (as in ensmallen): differentiable losses with a known
// minimiser, for convergence tests that need no reference implementation.
// Each loss is built from descent's ops, so backward() gives its gradient.
#include <cstdint>

#include "descent/tensor/tensor.h"

namespace descent::problems {

/// f(x) = sum_i (a - x_i)^2 + b (x_{i+1} - x_i^2)^2; minimum 0 at (a, a^2, ...) = (1, ..., 1).
struct Rosenbrock {
  int64_t dim = 2;
  double a = 1.0;
  double b = 100.0;

  Tensor operator()(const Tensor& x) const;
  // The classic start (-1.2, 1, -1.2, 1, ...).
  Tensor initial_point(Dtype dtype = kFloat64) const;
  Tensor minimizer(Dtype dtype = kFloat64) const;
  double minimum() const { return 0.0; }
};

/// f(x) = 1/2 (x - c)^T A (x - c) with A = Q diag(lambda) Q^T: eigenvalues
/// log-spaced from 1 to condition_number and Q a seeded Householder reflection
/// (so the problem is not axis-aligned). Minimum 0 at c.
class Quadratic {
 public:
  Quadratic(int64_t dim, double condition_number, uint64_t seed = 0);
  Tensor operator()(const Tensor& x) const;
  // A seeded start at distance about sqrt(dim) from the minimiser.
  Tensor initial_point(Dtype dtype = kFloat64) const;
  Tensor minimizer(Dtype dtype = kFloat64) const { return center_.to(dtype); }
  double minimum() const { return 0.0; }
  const Tensor& hessian() const { return hessian_; }  // A, float64

 private:
  Tensor hessian_;
  Tensor center_;
  Tensor start_;
};

/// Mean logistic loss plus l2/2 |w|^2 on seeded synthetic data: features
/// X ~ N(0, 1) with a last column of ones (the bias), labels y ~ Bernoulli(sigmoid(X w_true)).
class LogisticRegression {
 public:
  LogisticRegression(int64_t samples, int64_t features, double l2 = 1e-2, uint64_t seed = 0);
  // w has features + 1 entries.
  Tensor operator()(const Tensor& w) const;
  Tensor initial_point(Dtype dtype = kFloat64) const;
  // The minimiser, by Newton's method in float64 (the loss is strongly convex).
  Tensor minimizer(Dtype dtype = kFloat64) const { return solution_.to(dtype); }
  double minimum() const { return minimum_; }
  // Fraction of samples whose label the sign of X w predicts.
  double accuracy(const Tensor& w) const;
  const Tensor& features() const { return x_; }
  const Tensor& labels() const { return y_; }

 private:
  Tensor x_, y_;
  double l2_;
  Tensor solution_;
  double minimum_ = 0.0;
};

}  // namespace descent::problems
