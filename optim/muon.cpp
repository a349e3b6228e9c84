#include "descent/optim/muon.h"

#include <cmath>

#include "optim/kwargs.h"
#include "optim/pointwise.h"

namespace descent::optim {

using namespace detail;

namespace {

// "torch.Size([2, 3, 4])", as PyTorch prints p.size().
std::string torch_size(const Shape& shape) { return "torch.Size(" + shape_to_string(shape) + ")"; }

void validate(const MuonOptions& o) {
  auto number = [](const char* what, const Value& v) {
    if (!v.is_number() && !v.is_tensor() && !v.is_bool())
      raise<TypeError>("Muon: ", what, " must be a number, got ", v.type_name(), " (", v.str(), ")");
    return v.to_double();
  };
  if (o.lr.is_tensor() && o.lr.to_tensor().numel() != 1)
    raise<ValueError>("Muon: Tensor lr must be 1-element (got shape ", shape_to_string(o.lr.to_tensor().sizes()), ")");
  if (!(0.0 <= number("lr", o.lr))) raise<ValueError>("Muon: Learning rate should be >= 0 but is: ", o.lr.str());
  if (!(0.0 <= number("momentum", o.momentum)))
    raise<ValueError>("Muon: momentum should be >= 0 but is: ", o.momentum.str());
  if (!(0.0 <= number("weight_decay", o.weight_decay)))
    raise<ValueError>("Muon: weight decay should be >= 0 but is: ", o.weight_decay.str());
  const Value& fn = o.adjust_lr_fn;
  const bool known = fn.is_none() || (fn.is_string() && (fn.to_string_value() == "original" ||
                                                         fn.to_string_value() == "match_rms_adamw" ||
                                                         fn.to_string_value() == "spectral_unclamped"));
  if (!known) raise<ValueError>("Muon: Adjust learning rate function ", fn.str(), " is not supported");
}

// PyTorch's _adjust_lr: the factor on lr for an A×B param.
double lr_ratio(const Value& adjust_lr_fn, const Shape& shape) {
  const double a = static_cast<double>(shape[0]), b = static_cast<double>(shape[1]);
  const std::string fn = adjust_lr_fn.is_none() ? "original" : adjust_lr_fn.to_string_value();
  if (fn == "original") return std::sqrt(std::max(1.0, a / b));
  if (fn == "match_rms_adamw") return 0.2 * std::sqrt(std::max(a, b));
  if (fn == "spectral_unclamped") return std::sqrt(a / b);
  return 1.0;
}

// torch.addmm(input, m1, m2, beta, alpha) for bfloat16, as PyTorch's CPU
// kernels compute it: the product accumulated in float32, β·input + α·product
// in float32, rounded to bfloat16 once.
Tensor addmm_bf16(const Tensor& input, const Tensor& m1, const Tensor& m2, double beta, double alpha) {
  Tensor product = m1.to(kFloat32).matmul(m2.to(kFloat32));
  return input.to(kFloat32).mul(beta).add(product.mul(alpha)).to(kBFloat16);
}

std::vector<double> coefficients(const Value& v) {
  if (!v.is_list()) raise<TypeError>("Muon: ns_coefficients must be a tuple of numbers, got ", v.str());
  std::vector<double> out;
  for (const Value& c : v.to_list().items) out.push_back(c.to_double());
  return out;
}

// The checks of _zeropower_via_newtonschulz, in its order.
void check_newtonschulz(const Shape& grad, const std::vector<double>& ns_coefficients, int64_t ns_steps) {
  if (ns_steps >= 100)
    raise<ValueError>("Muon: Number of steps must be less than 100 for computational efficiency (got ns_steps=",
                      ns_steps, ")");
  if (grad.size() != 2)
    raise<ValueError>("Muon: Input tensor gradient must be a 2D matrix (got size ", torch_size(grad), ")");
  if (ns_coefficients.size() != 3)
    raise<ValueError>("Muon: Coefficients must be a tuple of exactly 3 values (got ", ns_coefficients.size(), ")");
}

}  // namespace

Tensor zeropower_via_newtonschulz(const Tensor& grad, const std::vector<double>& ns_coefficients, int64_t ns_steps,
                                  double eps) {
  check_newtonschulz(grad.sizes(), ns_coefficients, ns_steps);
  const double a = ns_coefficients[0], b = ns_coefficients[1], c = ns_coefficients[2];
  const bool tall = grad.sizes()[0] > grad.sizes()[1];
  Tensor x = grad.detach().to(kBFloat16, true);
  if (tall) x = x.t();
  // Scaled so that the spectral norm is at most 1.
  x.div_(x.norm(2.0).clamp_min(eps));
  for (int64_t i = 0; i < ns_steps; ++i) {
    Tensor gram = x.matmul(x.t());
    Tensor gram_update = addmm_bf16(gram, gram, gram, b, c);
    x = addmm_bf16(x, gram_update, x, a, 1.0);
  }
  return tall ? x.t() : x;
}

Muon::Muon(Params params, const MuonOptions& o) : Optimizer("Muon", (validate(o), options_dict(o))) {
  init_param_groups(std::move(params));
  for (const ParamGroup& group : param_groups())
    for (const Tensor& p : group.params)
      if (p.dim() != 2)
        raise<ValueError>("Muon: Muon only supports 2D parameters whereas we found a parameter with size: ",
                          torch_size(p.sizes()));
}

void Muon::step_group(ParamGroup& group) {
  const Value lr = squeeze_scalar(group.at("lr"));
  const double weight_decay = get_double(group, "weight_decay"), momentum = get_double(group, "momentum");
  const bool nesterov = get_bool(group, "nesterov");
  const std::vector<double> ns_coefficients = coefficients(group.at("ns_coefficients"));
  const int64_t ns_steps = group.at("ns_steps").to_int();
  const double eps = get_double(group, "eps");
  const Value& adjust_lr_fn = group.at("adjust_lr_fn");

  std::vector<ParamRef> refs = params_with_grad(*this, group, "");
  if (refs.empty()) return;
  // Every check before anything changes: a step that raises leaves no trace.
  check_real_dense("Muon", refs);
  check_grads_fit("Muon", refs);
  check_no_amp_inputs(*this);
  for (const ParamRef& r : refs) {
    if (r.grad->dim() != 2)
      raise<ValueError>("Muon: Param gradient must be a 2D matrix (got size ", torch_size(r.grad->sizes()), ")");
    check_newtonschulz(r.grad->sizes(), ns_coefficients, ns_steps);
  }
  std::vector<Tensor> buffers;
  for (const ParamRef& r : refs) {
    Value& buf = state()[*r.param]["momentum_buffer"];
    if (buf.is_none()) buf = zeros_like(*r.grad);
    if (!buf.is_tensor() || !buf.to_tensor().defined())
      raise<RuntimeError>("Muon: the state of parameter ", r.index, " has no tensor 'momentum_buffer'");
    buffers.push_back(buf.to_tensor());
  }
  // With a tensor lr these are tensor arithmetic in its dtype, as PyTorch's.
  const double decay = lr_expression(lr, [&](auto g) { return 1 - g * weight_decay; });
  for (std::size_t i = 0; i < refs.size(); ++i) {
    Tensor& param = *refs[i].param;
    const Tensor& grad = *refs[i].grad;
    Tensor& buf = buffers[i];
    buf.lerp_(grad, 1 - momentum);
    const Tensor update =
        zeropower_via_newtonschulz(nesterov ? grad.lerp(buf, momentum) : buf, ns_coefficients, ns_steps, eps);
    const double ratio = lr_ratio(adjust_lr_fn, param.sizes());
    param.mul_(decay);
    param.add_(update, lr_expression(lr, [&](auto g) { return -(g * ratio); }));
  }
}

}  // namespace descent::optim
