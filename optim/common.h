#pragma once
// What every optimizer shares: reading typed options from a group, option
// validation with PyTorch's messages, collecting (param, grad, state) for a
// step, step counters, the forloop/foreach/fused choice and dtype/device
// buckets. Private to optim/.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "descent/optim/optimizer.h"
#include "descent/tensor/ops.h"

namespace descent::optim::detail {

// ---- reading options ----
double get_double(const ParamGroup& group, const char* key);
bool get_bool(const ParamGroup& group, const char* key);
// None -> nullopt.
std::optional<bool> get_optional_bool(const ParamGroup& group, const char* key);
// A number or a one-element tensor, read as a double.
double get_scalar(const ParamGroup& group, const char* key);
// betas and similar pairs: a tuple of two numbers or tensors, read as doubles.
std::pair<double, double> get_pair(const ParamGroup& group, const char* key);

// ---- validation (messages as PyTorch's) ----
// lr: a number >= 0 (> 0 if strictly_positive), or a one-element tensor
// whose value is.
void check_lr(const std::string& optimizer, const Value& lr, bool strictly_positive = false);
// The name of `names` that `key` nearly spells (an edit or two away, or
// equal but for case and underscores); null when none.
const std::string* near_miss(const std::string& key, const std::vector<std::string>& names);
std::string did_you_mean(const std::string& key, const std::vector<std::string>& names);
// Inside a catch block: rethrows the current descent::Error as the same
// type, its message prefixed with `context`.
[[noreturn]] void rethrow_with_context(const std::string& context);
// value >= 0, else ValueError("Invalid <what> value: <value>").
void check_non_negative(const std::string& optimizer, const char* what, const Value& value);
// 0 <= beta < 1 for each; both numbers or both tensors.
void check_betas(const std::string& optimizer, const std::array<Value, 2>& betas);
// The constructor-time flag conflicts of optimizer-base.md §9.1.
void check_fused_flags(const std::string& optimizer, std::optional<bool> foreach, std::optional<bool> fused,
                       bool differentiable);
// A one-element tensor option is squeezed to 0-dim, as PyTorch does.
Value squeeze_scalar(const Value& v);

// ---- the parameters that take part in one step ----
// References into the group and the param's autograd meta, valid for the
// step: with thousands of small params, copying handles shows.
struct ParamRef {
  Tensor* param;
  const Tensor* grad;
  // Their impls, read while the handles were in cache (see fused_launch.h).
  TensorImpl* param_impl;
  TensorImpl* grad_impl;
  std::size_t index;  // in group.params
};
// Params of the group whose grad is defined, in group order. Sparse grads
// raise `sparse_error` unless it is empty.
std::vector<ParamRef> params_with_grad(Optimizer& optimizer, ParamGroup& group,
                                       const std::string& sparse_error);
// The same into `out`, whose storage a caller keeps from step to step.
void params_with_grad(Optimizer& optimizer, ParamGroup& group, const std::string& sparse_error,
                      std::vector<ParamRef>& out);
// The position of `group` in the optimizer's param_groups().
std::size_t group_index(const Optimizer& optimizer, const ParamGroup& group);

struct ParamSlot {
  Tensor param;
  Tensor grad;
  Dict* state;
};
// Params of the group whose grad is defined, in group order. Sparse grads
// raise `sparse_error` unless it is empty. State entries are created only
// when with_state (an optimizer without state must not leave empty entries).
std::vector<ParamSlot> collect(Optimizer& optimizer, ParamGroup& group, const std::string& sparse_error,
                               bool with_state = true);

// The 0-dim `step` counter: float32 on the CPU (float64 under a float64
// default dtype); float32 on the param's device when fused.
Tensor new_step_counter(const Tensor& param, bool fused);
// Reads a step counter stored either as a tensor or (legacy) a number.
double step_value(const Value& step);
// step.add_(amount), returning the new value. A counter on the host is
// updated in place, rounded in its own dtype as add_ rounds: a dispatched
// tensor op costs more than a small parameter's whole fused update.
double advance_step(Tensor& step, double amount);
// That in-place update alone, the old value in *previous: null when the
// counter is not a plain float32 or float64 host scalar without autograd
// history (use advance_step).
std::optional<double> advance_host_step(TensorImpl& step, double amount, double* previous = nullptr);
// A one-element state tensor (NAdam's mu_product, ASGD's eta and mu) read,
// filled or scaled in place, as item(), fill_() and mul_() would: directly
// for a plain host scalar (a step over many small params does this per
// param), through the tensor op otherwise. mul_host_state returns the new value.
double read_host_state(const Tensor& t);
void fill_host_state(Tensor& t, double value);
double mul_host_state(Tensor& t, double factor);
// Undoes advance_host_step: the counter holds `previous` again.
void restore_host_step(TensorImpl& step, double previous);

enum class Implementation { ForLoop, ForEach, Fused };
// §9.1: explicit flags choose; with neither, the forloop, unless
// default_to_fused or default_to_foreach.
Implementation choose_implementation(const ParamGroup& group);
// descent's default: with neither foreach nor fused set, the fused kernel
// runs where its result is the forloop's bit for bit: dense float32 or
// float64 params with grads of their layout on the CPU, no autograd, no AMP
// inputs. state_dict and repr still show foreach=None, fused=None.
bool default_to_fused(const Optimizer& optimizer, const ParamGroup& group, const std::vector<ParamRef>& params);
// PyTorch's default elsewhere (§9.1): with neither flag set, foreach when
// the step is not differentiable and every param and grad is a dense tensor
// on a foreach-capable device (CUDA).
bool default_to_foreach(const ParamGroup& group, const std::vector<ParamRef>& params);

// How many params ahead the fused paths' loops load metadata (see
// fused_launch.h).
inline constexpr std::size_t kPrefetchDistance = 8;

// Positions of `items` grouped by their param's (device, dtype), each
// bucket in order. Item: anything with a `param` tensor.
template <class Item>
std::vector<std::vector<std::size_t>> buckets(const std::vector<Item>& items) {
  std::vector<std::vector<std::size_t>> out;
  std::vector<std::pair<Device, Dtype>> keys;
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::pair<Device, Dtype> key{items[i].param.device(), items[i].param.dtype()};
    std::size_t b = 0;
    while (b < keys.size() && !(keys[b].first == key.first && keys[b].second == key.second)) ++b;
    if (b == keys.size()) {
      keys.push_back(key);
      out.emplace_back();
    }
    out[b].push_back(i);
  }
  return out;
}

// The gradient to use: negated (a new tensor) when maximizing.
Tensor maybe_negate(const Tensor& grad, bool maximize);
// Complex tensors as their real view; real tensors unchanged.
Tensor as_real(const Tensor& t);

// Each grad has its param's shape, dtype and device (RuntimeError naming the
// param's position otherwise): checked before a step changes anything.
void check_grads_fit(const std::string& optimizer, const std::vector<ParamRef>& params);
// Real params with dense grads only: "<optimizer>: <optimizer> does not
// support complex parameters" / "... sparse gradients" (RuntimeError).
void check_real_dense(const std::string& optimizer, const std::vector<ParamRef>& params);

// fused=True requires floating-point params on a fused-capable device.
void check_fused_param(const std::string& optimizer, const TensorImpl& param);
void check_fused_params(const std::string& optimizer, const std::vector<ParamRef>& params);
// The grad_scale / found_inf contract of §9.2 for the non-fused paths.
void check_no_amp_inputs(const Optimizer& optimizer);

// A fused step's AMP inputs (§9.2), as float32 copies on the bucket's device.
struct FusedAmp {
  Tensor grad_scale, found_inf;
  FusedAmp(const Optimizer& optimizer, Device device);
  AmpInputs kernel_inputs() const;
  // found_inf's value (0 without one): a nonzero value skips the step.
  double found_inf_value() const;
};

}  // namespace descent::optim::detail
