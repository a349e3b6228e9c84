#include "optim/common.h"

#include <algorithm>
#include <cctype>

#include <cmath>
#include <cstddef>

#include "descent/autograd/autograd_meta.h"
#include "descent/autograd/grad_mode.h"
#include "optim/fused_launch.h"

namespace descent::optim::detail {

double get_double(const ParamGroup& group, const char* key) { return group.at(key).to_double(); }
bool get_bool(const ParamGroup& group, const char* key) { return group.at(key).to_bool(); }
std::optional<bool> get_optional_bool(const ParamGroup& group, const char* key) {
  const Value* v = group.options.find(key);
  if (!v || v->is_none()) return std::nullopt;
  return v->to_bool();
}
double get_scalar(const ParamGroup& group, const char* key) { return group.at(key).to_double(); }
std::pair<double, double> get_pair(const ParamGroup& group, const char* key) {
  const Value& v = group.at(key);
  if (!v.is_list() || v.to_list().items.size() != 2)
    raise<TypeError>("option '", key, "' must be a pair of numbers, got ", v.str());
  return {v.to_list().items[0].to_double(), v.to_list().items[1].to_double()};
}

namespace {
bool negative(const Value& v) { return v.to_double() < 0; }
void check_one_element(const std::string& opt, const Value& v, const char* what) {
  if (v.is_tensor() && v.to_tensor().numel() != 1)
    raise<ValueError>(opt, ": Tensor ", what, " must be 1-element (got shape ",
                      shape_to_string(v.to_tensor().sizes()), ")");
}
}  // namespace

Value squeeze_scalar(const Value& v) {
  if (v.is_tensor() && v.to_tensor().dim() > 0 && v.to_tensor().numel() == 1) return v.to_tensor().view({});
  return v;
}

void check_lr(const std::string& opt, const Value& lr, bool strictly_positive) {
  if (!lr.is_number() && !lr.is_tensor() && !lr.is_bool())
    raise<TypeError>(opt, ": lr must be a number or a one-element Tensor, got ", lr.type_name());
  check_one_element(opt, lr, "lr");
  if (strictly_positive && !(lr.to_double() > 0))
    raise<ValueError>(opt, ": Invalid learning rate: ", lr.str(), " (must be > 0)");
  if (negative(lr)) raise<ValueError>(opt, ": Invalid learning rate: ", lr.str(), " (must be >= 0)");
}

void check_non_negative(const std::string& opt, const char* what, const Value& value) {
  if (!value.is_number() && !value.is_tensor() && !value.is_bool())
    raise<TypeError>(opt, ": ", what, " must be a number, got ", value.type_name());
  if (negative(value)) raise<ValueError>(opt, ": Invalid ", what, " value: ", value.str(), " (must be >= 0)");
}

void check_betas(const std::string& opt, const std::array<Value, 2>& betas) {
  for (int i = 0; i < 2; ++i) {
    check_one_element(opt, betas[i], i == 0 ? "betas[0]" : "betas[1]");
    double b = betas[i].to_double();
    if (!(b >= 0.0 && b < 1.0))
      raise<ValueError>(opt, ": Invalid beta parameter at index ", i, ": ", betas[i].str(),
                        " (must be in [0, 1))");
  }
  if (betas[0].is_tensor() != betas[1].is_tensor())
    raise<ValueError>(opt, ": betas must be either both floats or both Tensors (got ", betas[0].type_name(),
                      " and ", betas[1].type_name(), ")");
}

void check_fused_flags(const std::string& opt, std::optional<bool> foreach, std::optional<bool> fused,
                       bool differentiable) {
  if (fused.value_or(false)) {
    if (differentiable) raise<RuntimeError>(opt, ": `fused` does not support `differentiable`");
    if (foreach.value_or(false))
      raise<RuntimeError>(opt, ": `fused` and `foreach` cannot be `True` together.");
  }
}

std::vector<ParamRef> params_with_grad(Optimizer& optimizer, ParamGroup& group,
                                       const std::string& sparse_error) {
  std::vector<ParamRef> refs;
  params_with_grad(optimizer, group, sparse_error, refs);
  return refs;
}

void params_with_grad(Optimizer& optimizer, ParamGroup& group, const std::string& sparse_error,
                      std::vector<ParamRef>& refs) {
  refs.clear();
  refs.reserve(group.params.size());
  const std::size_t n = group.params.size();
  for (std::size_t i = 0; i < n; ++i) {
    // Each grad is three dependent loads away (impl, autograd meta, grad
    // impl): load them a few params ahead (see fused_launch.h).
    if (i + kPrefetchDistance < n)
      if (const TensorImpl* impl = group.params[i + kPrefetchDistance].unsafe_get_impl())
        __builtin_prefetch(reinterpret_cast<const char*>(impl) + offsetof(TensorImpl, autograd_meta));
    if (i + kPrefetchDistance / 2 < n)
      if (const TensorImpl* impl = group.params[i + kPrefetchDistance / 2].unsafe_get_impl())
        __builtin_prefetch(impl->autograd_meta.get());
    Tensor& p = group.params[i];
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (!sparse_error.empty() && g.is_sparse()) raise<RuntimeError>(optimizer.name(), ": ", sparse_error);
    refs.push_back({&p, &g, p.unsafe_get_impl(), g.unsafe_get_impl(), i});
  }
}

std::size_t group_index(const Optimizer& optimizer, const ParamGroup& group) {
  return static_cast<std::size_t>(&group - optimizer.param_groups().data());
}

std::vector<ParamSlot> collect(Optimizer& optimizer, ParamGroup& group, const std::string& sparse_error,
                               bool with_state) {
  std::vector<ParamSlot> slots;
  const std::vector<ParamRef> params = params_with_grad(optimizer, group, sparse_error);
  check_grads_fit(optimizer.name(), params);
  for (const ParamRef& r : params)
    slots.push_back({*r.param, *r.grad, with_state ? &optimizer.state()[*r.param] : nullptr});
  return slots;
}

namespace {
// Levenshtein distance, with an adjacent swap counting one edit.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string folded(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != '_' && c != '-') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}
}  // namespace

const std::string* near_miss(const std::string& key, const std::vector<std::string>& names) {
  // Short names are one edit from many unrelated words: allow fewer edits.
  const std::size_t allowed = key.size() <= 4 ? 1 : 2;
  for (const std::string& name : names)
    if (name != key && (folded(name) == folded(key) || edit_distance(name, key) <= allowed)) return &name;
  return nullptr;
}

std::string did_you_mean(const std::string& key, const std::vector<std::string>& names) {
  const std::string* name = near_miss(key, names);
  return name ? " (did you mean '" + *name + "'?)" : "";
}

void rethrow_with_context(const std::string& context) {
  try {
    throw;
  } catch (const ValueError& e) {
    throw ValueError(context + e.what());
  } catch (const TypeError& e) {
    throw TypeError(context + e.what());
  } catch (const KeyError& e) {
    throw KeyError(context + e.what());
  } catch (const IndexError& e) {
    throw IndexError(context + e.what());
  } catch (const NotImplementedError& e) {
    throw NotImplementedError(context + e.what());
  } catch (const RuntimeError& e) {
    throw RuntimeError(context + e.what());
  } catch (const ShapeError& e) {
    throw ShapeError(context + e.what());
  } catch (const DeviceError& e) {
    throw DeviceError(context + e.what());
  } catch (const Error& e) {
    throw Error(context + e.what());
  }
}

Tensor new_step_counter(const Tensor& param, bool fused) {
  if (fused) return zeros({}, {.dtype = kFloat32, .device = param.device()});
  return zeros({}, {.dtype = get_default_dtype() == kFloat64 ? kFloat64 : kFloat32});
}

double step_value(const Value& step) { return step.to_double(); }

namespace {
// A scalar that is part of a graph goes through the tensor op.
bool is_plain_host_scalar(const TensorImpl& t) {
  const autograd::AutogradMeta* meta = t.autograd_meta.get();
  if (meta != nullptr && (meta->requires_grad || meta->grad_fn != nullptr || meta->view != nullptr)) return false;
  return impl::is_host_scalar(t);
}
}  // namespace

double read_host_state(const Tensor& t) {
  if (impl::is_host_scalar(*t.unsafe_get_impl())) return impl::read_host_scalar(*t.unsafe_get_impl());
  return t.item<double>();
}

void fill_host_state(Tensor& t, double value) {
  if (is_plain_host_scalar(*t.unsafe_get_impl()))
    impl::set_host_scalar(*t.unsafe_get_impl(), value);
  else
    t.fill_(value);
}

double mul_host_state(Tensor& t, double factor) {
  if (is_plain_host_scalar(*t.unsafe_get_impl())) return impl::mul_host_scalar(*t.unsafe_get_impl(), factor);
  t.mul_(factor);
  return t.item<double>();
}

std::optional<double> advance_host_step(TensorImpl& step, double amount, double* previous) {
  if (!is_plain_host_scalar(step)) return std::nullopt;
  double old;
  const double value = impl::add_to_host_scalar(step, amount, &old);
  if (previous != nullptr) *previous = old;
  return value;
}

void restore_host_step(TensorImpl& step, double previous) { impl::restore_host_scalar(step, previous); }

double advance_step(Tensor& step, double amount) {
  if (std::optional<double> value = advance_host_step(*step.unsafe_get_impl(), amount)) return *value;
  step.add_(amount);
  return step.item<double>();
}

Implementation choose_implementation(const ParamGroup& group) {
  if (get_optional_bool(group, "fused").value_or(false)) return Implementation::Fused;
  if (get_optional_bool(group, "foreach").value_or(false)) return Implementation::ForEach;
  return Implementation::ForLoop;
}

bool default_to_fused(const Optimizer& optimizer, const ParamGroup& group, const std::vector<ParamRef>& params) {
  if (get_bool(group, "differentiable") || optimizer.grad_scale.defined() || optimizer.found_inf.defined())
    return false;
  for (const ParamRef& r : params) {
    const TensorImpl& p = *r.param_impl;
    const TensorImpl& g = *r.grad_impl;
    if ((p.dtype != kFloat32 && p.dtype != kFloat64) || !impl::is_dense(p) || !impl::device(p).is_cpu() ||
        !impl::same_dense_layout(p, g))
      return false;
  }
  return true;
}

bool default_to_foreach(const ParamGroup& group, const std::vector<ParamRef>& params) {
  if (get_bool(group, "differentiable")) return false;
  for (const ParamRef& r : params) {
    const TensorImpl& p = *r.param_impl;
    if (p.layout != Layout::Strided || !p.storage->device.is_cuda() || r.grad_impl->layout != Layout::Strided)
      return false;
  }
  return true;
}

Tensor maybe_negate(const Tensor& grad, bool maximize) { return maximize ? neg(grad) : grad; }

Tensor as_real(const Tensor& t) { return t.is_complex() ? view_as_real(t) : t; }

void check_grads_fit(const std::string& opt, const std::vector<ParamRef>& params) {
  for (const ParamRef& r : params) {
    const Tensor& p = *r.param;
    const Tensor& g = *r.grad;
    if (g.sizes() != p.sizes() || g.dtype() != p.dtype() || g.device() != p.device())
      raise<RuntimeError>(opt, ": the grad of parameter ", r.index, " is ", to_string(g.dtype()), " ",
                          shape_to_string(g.sizes()), " on ", g.device().str(), ", but the parameter is ",
                          to_string(p.dtype()), " ", shape_to_string(p.sizes()), " on ", p.device().str(),
                          " (a grad must match its parameter's shape, dtype and device)");
  }
}

void check_fused_param(const std::string& opt, const TensorImpl& param) {
  if (is_floating_point(param.dtype)) return;
  const Device device = impl::is_dense(param) ? impl::device(param) : param.sparse_values.device();
  raise<RuntimeError>(opt,
                      ": `fused=True` requires all the params to be floating point Tensors of supported devices: "
                      "['cpu', 'cuda'] but ",
                      to_string(param.dtype), " and ", device.str());
}

void check_fused_params(const std::string& opt, const std::vector<ParamRef>& params) {
  for (const ParamRef& r : params) check_fused_param(opt, *r.param_impl);
}

void check_real_dense(const std::string& optimizer, const std::vector<ParamRef>& params) {
  for (const ParamRef& r : params) {
    if (r.param->is_complex()) raise<RuntimeError>(optimizer, ": ", optimizer, " does not support complex parameters");
    if (r.grad->is_sparse()) raise<RuntimeError>(optimizer, ": ", optimizer, " does not support sparse gradients");
  }
}

void check_no_amp_inputs(const Optimizer& optimizer) {
  if (optimizer.grad_scale.defined() || optimizer.found_inf.defined())
    raise<RuntimeError>(
        optimizer.name(),
        ": Expected grad_scale and found_inf to be None (they are only supported with fused=True)");
}

FusedAmp::FusedAmp(const Optimizer& optimizer, Device device)
    : grad_scale(optimizer.grad_scale.defined() ? optimizer.grad_scale.to(device, kFloat32) : Tensor()),
      found_inf(optimizer.found_inf.defined() ? optimizer.found_inf.to(device, kFloat32) : Tensor()) {}

AmpInputs FusedAmp::kernel_inputs() const {
  return {grad_scale.defined() ? static_cast<const float*>(grad_scale.data_ptr()) : nullptr,
          found_inf.defined() ? static_cast<const float*>(found_inf.data_ptr()) : nullptr};
}

double FusedAmp::found_inf_value() const { return found_inf.defined() ? found_inf.item<double>() : 0.0; }

}  // namespace descent::optim::detail
