#pragma once
// Numerical gradient checking (torch.autograd.gradcheck / gradgradcheck):
// compares the Jacobian autograd computes with central finite differences.
//
// Complex tensors are checked through their real and imaginary parts: for
// z = x + iy and a real loss L, autograd's gradient is dL/dx + i dL/dy
// (PyTorch's conjugate Wirtinger convention), so each complex input and
// output counts as two real ones. Inputs should be float64 or complex128.
#include <functional>
#include <vector>

#include "descent/error.h"
#include "descent/tensor/tensor.h"

namespace descent::autograd {

/// Raised when the gradients disagree; the message lists the worst elements.
class GradcheckError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// Step and tolerances of gradcheck's finite-difference comparison, and whether a mismatch throws.
struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // |analytical - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-3;
  // Two backward passes with the same inputs may differ by at most this much.
  double nondet_tol = 0.0;
  // false: return false instead of throwing GradcheckError.
  bool raise_exception = true;
};

using TensorsFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;
using TensorFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;

// Checks the gradients of fn's floating/complex outputs with respect to every
// input that requires grad.
bool gradcheck(const TensorsFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});
bool gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

// Checks second derivatives: gradcheck of (inputs, v) -> vjp of fn with v,
// computed with create_graph. grad_outputs (v) default to seeded random
// tensors shaped like the outputs.
bool gradgradcheck(const TensorsFn& fn, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& grad_outputs = {}, const GradcheckOptions& options = {});
bool gradgradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& grad_outputs = {}, const GradcheckOptions& options = {});

}  // namespace descent::autograd
