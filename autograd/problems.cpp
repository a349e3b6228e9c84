// Analytic test problems.
#include "descent/autograd/problems.h"

#include <cmath>

#include "descent/autograd/grad_mode.h"
#include "descent/tensor/ops.h"

namespace descent::problems {

namespace {
void check_vector(const char* problem, const Tensor& x, int64_t n) {
  if (x.dim() != 1 || x.numel() != n)
    raise<ShapeError>(problem, ": expected a vector of ", n, " elements, got shape ",
                      shape_to_string(x.sizes()));
}

// Solves the symmetric positive definite system H d = g (row-major, n x n) by elimination.
std::vector<double> solve(std::vector<double> h, std::vector<double> g, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t pivot = k;
    for (std::size_t r = k + 1; r < n; ++r)
      if (std::abs(h[r * n + k]) > std::abs(h[pivot * n + k])) pivot = r;
    for (std::size_t c = 0; c < n; ++c) std::swap(h[k * n + c], h[pivot * n + c]);
    std::swap(g[k], g[pivot]);
    for (std::size_t r = k + 1; r < n; ++r) {
      double f = h[r * n + k] / h[k * n + k];
      for (std::size_t c = k; c < n; ++c) h[r * n + c] -= f * h[k * n + c];
      g[r] -= f * g[k];
    }
  }
  std::vector<double> d(n);
  for (std::size_t k = n; k-- > 0;) {
    double s = g[k];
    for (std::size_t c = k + 1; c < n; ++c) s -= h[k * n + c] * d[c];
    d[k] = s / h[k * n + k];
  }
  return d;
}
}  // namespace

// ---- Rosenbrock ----
Tensor Rosenbrock::operator()(const Tensor& x) const {
  check_vector("Rosenbrock", x, dim);
  if (dim < 2) raise<ValueError>("Rosenbrock: dim must be at least 2 (got ", dim, ")");
  Tensor head = x.narrow(0, 0, dim - 1), tail = x.narrow(0, 1, dim - 1);
  return add(square(Scalar(a) - head).sum(), mul(square(sub(tail, square(head))).sum(), Scalar(b)));
}

Tensor Rosenbrock::initial_point(Dtype dtype) const {
  std::vector<double> v(static_cast<std::size_t>(dim));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i % 2 == 0 ? -1.2 : 1.0;
  return tensor(v, {dim}, {.dtype = dtype});
}

Tensor Rosenbrock::minimizer(Dtype dtype) const {
  std::vector<double> v(static_cast<std::size_t>(dim));
  double xi = a;
  for (double& e : v) {
    e = xi;
    xi = xi * xi;
  }
  return tensor(v, {dim}, {.dtype = dtype});
}

// ---- Quadratic ----
Quadratic::Quadratic(int64_t dim, double condition_number, uint64_t seed) {
  if (dim < 1) raise<ValueError>("Quadratic: dim must be at least 1 (got ", dim, ")");
  if (!(condition_number >= 1.0))
    raise<ValueError>("Quadratic: condition_number must be >= 1 (got ", format_double(condition_number), ")");
  autograd::NoGradGuard no_grad;
  Generator gen(seed);
  std::vector<double> lambda(static_cast<std::size_t>(dim), 1.0);
  for (int64_t i = 0; i < dim && dim > 1; ++i)
    lambda[i] = std::pow(condition_number, static_cast<double>(i) / static_cast<double>(dim - 1));
  Tensor v = randn({dim, 1}, {.dtype = kFloat64}, &gen);
  Tensor q = sub(eye(dim, {.dtype = kFloat64}), div(mul(matmul(v, v.t()), Scalar(2)), v.pow(2).sum()));
  hessian_ = matmul(mul(q, tensor(lambda, {dim}, {.dtype = kFloat64})), q.t());
  center_ = randn({dim}, {.dtype = kFloat64}, &gen);
  start_ = add(center_, randn({dim}, {.dtype = kFloat64}, &gen));
}

Tensor Quadratic::operator()(const Tensor& x) const {
  check_vector("Quadratic", x, hessian_.sizes()[0]);
  Tensor d = sub(x, center_.to(x.dtype()));
  return mul(dot(d, matmul(hessian_.to(x.dtype()), d)), Scalar(0.5));
}

Tensor Quadratic::initial_point(Dtype dtype) const { return start_.to(dtype); }

// ---- LogisticRegression ----
LogisticRegression::LogisticRegression(int64_t samples, int64_t features, double l2, uint64_t seed)
    : l2_(l2) {
  if (samples < 1 || features < 1)
    raise<ValueError>("LogisticRegression: samples and features must be positive (got ", samples, " and ",
                      features, ")");
  if (!(l2 > 0.0)) raise<ValueError>("LogisticRegression: l2 must be positive (got ", format_double(l2), ")");
  autograd::NoGradGuard no_grad;
  Generator gen(seed);
  x_ = cat({randn({samples, features}, {.dtype = kFloat64}, &gen), ones({samples, 1}, {.dtype = kFloat64})},
           1);
  Tensor w_true = randn({features + 1}, {.dtype = kFloat64}, &gen);
  Tensor p = sigmoid(matmul(x_, w_true));
  y_ = lt(rand({samples}, {.dtype = kFloat64}, &gen), p).to(kFloat64);

  // Newton's method on the host.
  auto n = static_cast<std::size_t>(samples), d = static_cast<std::size_t>(features + 1);
  std::vector<double> x = x_.to_vector<double>(), y = y_.to_vector<double>(), w(d, 0.0);
  for (int iter = 0; iter < 100; ++iter) {
    std::vector<double> g(d, 0.0), h(d * d, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double z = 0;
      for (std::size_t j = 0; j < d; ++j) z += x[i * d + j] * w[j];
      double s = 1.0 / (1.0 + std::exp(-z));
      for (std::size_t j = 0; j < d; ++j) {
        g[j] += (s - y[i]) * x[i * d + j] / static_cast<double>(n);
        for (std::size_t k = 0; k < d; ++k)
          h[j * d + k] += s * (1 - s) * x[i * d + j] * x[i * d + k] / static_cast<double>(n);
      }
    }
    double step = 0;
    for (std::size_t j = 0; j < d; ++j) {
      g[j] += l2 * w[j];
      h[j * d + j] += l2;
    }
    std::vector<double> delta = solve(h, g, d);
    for (std::size_t j = 0; j < d; ++j) {
      w[j] -= delta[j];
      step = std::max(step, std::abs(delta[j]));
    }
    if (step < 1e-15) break;
  }
  solution_ = tensor(w, {features + 1}, {.dtype = kFloat64});
  minimum_ = (*this)(solution_).item<double>();
}

Tensor LogisticRegression::operator()(const Tensor& w) const {
  check_vector("LogisticRegression", w, x_.sizes()[1]);
  Tensor z = matmul(x_.to(w.dtype()), w);
  Tensor data = sub(softplus(z), mul(y_.to(w.dtype()), z)).mean();
  return add(data, mul(square(w).sum(), Scalar(l2_ / 2)));
}

Tensor LogisticRegression::initial_point(Dtype dtype) const {
  return zeros({x_.sizes()[1]}, {.dtype = dtype});
}

double LogisticRegression::accuracy(const Tensor& w) const {
  autograd::NoGradGuard no_grad;
  Tensor predicted = matmul(x_, w.detach().to(kFloat64)).gt(Scalar(0));
  Tensor truth = y_.gt(Scalar(0.5));
  return eq(predicted, truth).to(kFloat64).mean().item<double>();
}

}  // namespace descent::problems
