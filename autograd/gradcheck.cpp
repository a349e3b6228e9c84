// gradcheck / gradgradcheck: Jacobians by finite differences and by
// vector-Jacobian products, compared element by element.
#include "descent/autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "descent/autograd/autograd.h"
#include "descent/tensor/ops.h"
#include "descent/warning.h"

namespace descent::autograd {

namespace {

bool differentiable(const Tensor& t) { return t.defined() && (t.is_floating_point() || t.is_complex()); }

// The real numbers a tensor holds: complex elements contribute (real, imag).
std::vector<double> components(const Tensor& t) {
  NoGradGuard no_grad;
  Tensor d = t.detach();
  if (d.is_complex()) d = view_as_real(d.to(kComplex128));
  return d.to_vector<double>();
}

// A copy of t with real component k moved by delta.
Tensor perturbed(const Tensor& t, std::size_t k, double delta) {
  NoGradGuard no_grad;
  std::vector<double> c = components(t);
  c[k] += delta;
  Shape shape = t.sizes();
  if (t.is_complex()) shape.push_back(2);
  Tensor r = tensor(c, shape, {.dtype = kFloat64});
  if (t.is_complex()) r = view_as_complex(r);
  // Keeps requires_grad: the function may differentiate with respect to it (gradgradcheck).
  return r.to(t.device(), t.dtype()).detach().requires_grad_(t.requires_grad());
}

// Jacobian blocks: jac[input][output] is (input components) x (output components), row-major.
using Jacobian = std::vector<std::vector<std::vector<double>>>;

std::vector<std::vector<double>> output_components(const TensorsFn& fn, const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  std::vector<std::vector<double>> out;
  for (const Tensor& o : fn(inputs))
    if (differentiable(o)) out.push_back(components(o));
  return out;
}

Jacobian numerical_jacobian(const TensorsFn& fn, const std::vector<Tensor>& inputs,
                            const std::vector<std::size_t>& wrt, const std::vector<std::size_t>& out_sizes,
                            double eps) {
  Jacobian jac;
  for (std::size_t i : wrt) {
    std::size_t n_in = components(inputs[i]).size();
    std::vector<std::vector<double>> blocks;
    for (std::size_t sz : out_sizes) blocks.emplace_back(n_in * sz, 0.0);
    for (std::size_t k = 0; k < n_in; ++k) {
      std::vector<Tensor> plus = inputs, minus = inputs;
      plus[i] = perturbed(inputs[i], k, eps);
      minus[i] = perturbed(inputs[i], k, -eps);
      auto fp = output_components(fn, plus), fm = output_components(fn, minus);
      for (std::size_t o = 0; o < out_sizes.size(); ++o)
        for (std::size_t c = 0; c < out_sizes[o]; ++c)
          blocks[o][k * out_sizes[o] + c] = (fp[o][c] - fm[o][c]) / (2 * eps);
    }
    jac.push_back(std::move(blocks));
  }
  return jac;
}

Jacobian analytical_jacobian(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                             const std::vector<std::size_t>& wrt, const std::vector<std::size_t>& out_sizes) {
  std::vector<Tensor> diff_inputs;
  for (std::size_t i : wrt) diff_inputs.push_back(inputs[i]);
  Jacobian jac(wrt.size());
  for (std::size_t j = 0; j < wrt.size(); ++j)
    for (std::size_t sz : out_sizes) jac[j].emplace_back(components(inputs[wrt[j]]).size() * sz, 0.0);
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const Tensor& out = outputs[o];
    if (!out.requires_grad()) continue;
    bool cplx = out.is_complex();
    for (std::size_t c = 0; c < out_sizes[o]; ++c) {
      // A unit gradient on one real component: 1 on a real part, 1j on an imaginary part.
      std::vector<double> unit(out_sizes[o], 0.0);
      unit[c] = 1.0;
      Shape shape = out.sizes();
      if (cplx) shape.push_back(2);
      Tensor g = tensor(unit, shape, {.dtype = kFloat64});
      if (cplx) g = view_as_complex(g);
      g = g.to(out.device(), out.dtype());
      std::vector<Tensor> grads = grad({out}, diff_inputs, {g}, true, false, true);
      for (std::size_t j = 0; j < wrt.size(); ++j) {
        if (!grads[j].defined()) continue;
        std::vector<double> row = components(grads[j]);
        for (std::size_t k = 0; k < row.size(); ++k) jac[j][o][k * out_sizes[o] + c] = row[k];
      }
    }
  }
  return jac;
}

std::string component_name(const Tensor& t, std::size_t k) {
  if (!t.is_complex()) return "element " + std::to_string(k);
  return "element " + std::to_string(k / 2) + (k % 2 ? " (imaginary part)" : " (real part)");
}

bool fail(const GradcheckOptions& options, const std::string& message) {
  if (options.raise_exception) throw GradcheckError(message);
  return false;
}

}  // namespace

bool gradcheck(const TensorsFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  std::vector<std::size_t> wrt;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    if (inputs[i].dtype() != kFloat64 && inputs[i].dtype() != kComplex128)
      warn("gradcheck: input " + std::to_string(i) +
           " requires gradient and is not a double precision floating point "
           "or complex (" +
           to_string(inputs[i].dtype()) + "); finite differences will be inaccurate");
    wrt.push_back(i);
  }
  if (wrt.empty())
    raise<ValueError>(
        "gradcheck expects at least one input tensor to require gradient, but none of them have "
        "requires_grad=True.");

  std::vector<Tensor> outputs;
  for (const Tensor& o : fn(inputs))
    if (differentiable(o)) outputs.push_back(o);
  std::vector<std::size_t> out_sizes;
  for (const Tensor& o : outputs) out_sizes.push_back(components(o).size());

  Jacobian analytical = analytical_jacobian(outputs, inputs, wrt, out_sizes);
  Jacobian numerical = numerical_jacobian(fn, inputs, wrt, out_sizes, options.eps);

  for (std::size_t j = 0; j < wrt.size(); ++j)
    for (std::size_t o = 0; o < outputs.size(); ++o) {
      const auto& a = analytical[j][o];
      const auto& n = numerical[j][o];
      struct Bad {
        std::size_t index;
        double excess;
      };
      std::vector<Bad> bad;
      for (std::size_t e = 0; e < a.size(); ++e) {
        double allowed = options.atol + options.rtol * std::abs(n[e]);
        double diff = std::abs(a[e] - n[e]);
        if (!(diff <= allowed)) bad.push_back({e, std::isnan(diff) ? INFINITY : diff - allowed});
      }
      if (bad.empty()) continue;
      std::sort(bad.begin(), bad.end(), [](const Bad& x, const Bad& y) { return x.excess > y.excess; });
      std::ostringstream msg;
      msg << "Jacobian mismatch for output " << o << " with respect to input " << wrt[j] << ": " << bad.size()
          << " of " << a.size() << " entries differ (atol " << options.atol << ", rtol " << options.rtol
          << ")";
      for (std::size_t b = 0; b < std::min<std::size_t>(bad.size(), 10); ++b) {
        std::size_t e = bad[b].index, in_k = e / out_sizes[o], out_k = e % out_sizes[o];
        msg << "\n  d output[" << o << "] " << component_name(outputs[o], out_k) << " / d input[" << wrt[j]
            << "] " << component_name(inputs[wrt[j]], in_k) << ": numerical " << n[e] << ", analytical "
            << a[e] << ", difference " << std::abs(a[e] - n[e]);
      }
      return fail(options, msg.str());
    }

  Jacobian again = analytical_jacobian(outputs, inputs, wrt, out_sizes);
  for (std::size_t j = 0; j < wrt.size(); ++j)
    for (std::size_t o = 0; o < outputs.size(); ++o)
      for (std::size_t e = 0; e < again[j][o].size(); ++e)
        if (!(std::abs(again[j][o][e] - analytical[j][o][e]) <= options.nondet_tol))
          return fail(options,
                      "Backward is not reentrant, i.e., running backward with same input and grad_output "
                      "multiple times gives different values, although analytical gradient matches numerical "
                      "gradient. The tolerance for nondeterminism was " +
                          format_double(options.nondet_tol) + ".");
  return true;
}

bool gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  return gradcheck(TensorsFn([&fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in)}; }),
                   inputs, options);
}

bool gradgradcheck(const TensorsFn& fn, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& grad_outputs, const GradcheckOptions& options) {
  std::vector<std::size_t> wrt;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) wrt.push_back(i);
  std::vector<Tensor> vs = grad_outputs;
  if (vs.empty()) {
    Generator gen(0);
    for (const Tensor& o : fn(inputs))
      if (differentiable(o) && o.requires_grad())
        vs.push_back(randn(o.sizes(), {.dtype = o.dtype(), .device = o.device()}, &gen).requires_grad_(true));
  }
  std::size_t n_inputs = inputs.size();
  TensorsFn vjp = [&fn, wrt, n_inputs](const std::vector<Tensor>& all) {
    EnableGradGuard recording;  // also when gradcheck evaluates it for finite differences
    std::vector<Tensor> in(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n_inputs));
    std::vector<Tensor> v(all.begin() + static_cast<std::ptrdiff_t>(n_inputs), all.end());
    std::vector<Tensor> outs;
    for (const Tensor& o : fn(in))
      if (differentiable(o) && o.requires_grad()) outs.push_back(o);
    std::vector<Tensor> diff_in;
    for (std::size_t i : wrt) diff_in.push_back(in[i]);
    if (outs.empty()) return std::vector<Tensor>{};
    std::vector<Tensor> grads = grad(outs, diff_in, v, true, true, true);
    std::vector<Tensor> defined;
    for (const Tensor& g : grads)
      if (g.defined()) defined.push_back(g);
    return defined;
  };
  std::vector<Tensor> all = inputs;
  all.insert(all.end(), vs.begin(), vs.end());
  return gradcheck(vjp, all, options);
}

bool gradgradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& grad_outputs, const GradcheckOptions& options) {
  return gradgradcheck(
      TensorsFn([&fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in)}; }), inputs,
      grad_outputs, options);
}

}  // namespace descent::autograd
