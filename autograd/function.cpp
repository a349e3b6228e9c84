// Custom functions: the node that calls a user's backward.
#include "descent/autograd/function.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>

#include "autograd/record.h"

namespace descent::autograd {

std::vector<Tensor> AutogradContext::get_saved_variables() const {
  auto node = node_.lock();
  std::vector<Tensor> out;
  out.reserve(saved_.size());
  for (const SavedVariable& s : saved_) out.push_back(s.unpack(node));
  return out;
}

void AutogradContext::mark_non_differentiable(const std::vector<Tensor>& outputs) {
  for (const Tensor& t : outputs) non_differentiable_.push_back(t.unsafe_get_impl());
}

void CustomNode::begin(const tensor_list& inputs) {
  for (const Tensor& t : inputs) ctx_.needs_input_grad_.push_back(is_grad_enabled() && requires_grad(t));
}

void CustomNode::finish(const tensor_list& inputs, tensor_list& outputs) {
  if (!needs_grad(inputs)) return;
  set_next_edges(collect_next_edges(inputs));
  ctx_.node_ = weak_from_this();
  for (Tensor& out : outputs) {
    if (!out.defined() || (!out.is_floating_point() && !out.is_complex())) continue;
    const auto& nd = ctx_.non_differentiable_;
    if (std::find(nd.begin(), nd.end(), out.unsafe_get_impl()) != nd.end()) continue;
    // An input returned as is becomes a new tensor: the input keeps its own history.
    for (const Tensor& in : inputs)
      if (out.is_same(in)) out = out.detach();
    set_history(out, shared_from_this());
  }
  for (const Tensor& t : ctx_.to_save_) {
    bool is_output =
        std::any_of(outputs.begin(), outputs.end(), [&](const Tensor& o) { return o.is_same(t); });
    ctx_.saved_.emplace_back(t, is_output);
  }
  ctx_.to_save_.clear();
}

tensor_list CustomNode::apply(tensor_list&& grads) {
  tensor_list result = backward_(&ctx_, std::move(grads));
  std::size_t expected = next_edges().size();
  bool extra_defined = false;
  for (std::size_t i = expected; i < result.size(); ++i) extra_defined = extra_defined || result[i].defined();
  if (result.size() < expected || extra_defined)
    raise<RuntimeError>("function ", name(), " returned an incorrect number of gradients (expected ",
                        expected, ", got ", result.size(), ")");
  result.resize(expected);
  return result;
}

void CustomNode::release_variables() {
  for (SavedVariable& s : ctx_.saved_) s.reset_data();
}

std::string demangled_name(const char* mangled) {
  int status = 0;
  char* raw = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && raw != nullptr ? raw : mangled;
  std::free(raw);
  auto pos = name.rfind("::");
  return pos == std::string::npos ? name : name.substr(pos + 2);
}

}  // namespace descent::autograd
