#pragma once
// Finding each parameter's state tensors quickly, step after step.
//
// A fused Adam update of a 100-element tensor costs about 100 ns; finding
// its state the general way (hash the param, search its dict for each key)
// cost twice that. The cache remembers, per param of a group, the param's
// state dict and the position of each key in it. A later step only confirms
// that the same param is there, that the state was not replaced (its
// generation) and that each key still sits at its position holding a
// tensor; whatever fails that check is looked up the general way again.
// Nothing about the tensors themselves is cached: they are read from the
// dict every step.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "descent/optim/pointwise_optimizer.h"
#include "optim/common.h"
#include "optim/fused_launch.h"

namespace descent::optim::detail {

class StateCache {
 public:
  // A step counter, a fused kernel's state slots and two host scalars
  // (PointwiseStep checks each optimizer's declaration against it).
  static constexpr std::size_t kMaxKeys = 1 + kMaxFusedState + 2;
  // One param's state tensors, in key order: references into its dict, and
  // their impls (read while the dict was in cache, see fused_launch.h).
  struct Tensors {
    std::array<Tensor*, kMaxKeys> tensor{};
    std::array<TensorImpl*, kMaxKeys> impl{};
  };
  // Creates what the state of params[k] lacks before its keys are looked up.
  using Init = std::function<void(Dict& state, std::size_t k)>;

  // The state tensors named by `keys` for each of `params` (the params of
  // the group at `group_index` that take part in this step). Params whose
  // cached positions do not verify run `init` on their dict, then their
  // keys are looked up: a missing key raises KeyError, a value that is not a
  // tensor TypeError.
  // The result stays valid until the next call.
  const std::vector<Tensors>& resolve(OptimizerState& state, std::size_t group_index,
                                      const std::vector<ParamRef>& params, const std::vector<std::string>& keys,
                                      const Init& init);
  // `n` params without state (a stateless configuration), valid as resolve's.
  const std::vector<Tensors>& no_state(std::size_t n);

  // The lists a step builds anew each time, kept from step to step. With
  // thousands of params each is 50-250 KB: freed after every step, the
  // allocator returned them to the system and the next step paid the page
  // faults again (8-10% of a fused step on 2000 small params).
  struct StepBuffers {
    std::vector<ParamRef> params;
    std::vector<FusedParam> fused;
    std::vector<double> steps;
    std::vector<FusedLaunch> launches;
  };
  StepBuffers& step_buffers() { return buffers_; }

  // Whether `params` (a group's list) holds a tensor twice; remembered until
  // the list changes, so a step pays one pass over the handles.
  bool has_duplicates(std::size_t group_index, const std::vector<Tensor>& params);

 private:
  struct Entry {
    const TensorImpl* param = nullptr;  // null: nothing cached
    Dict* dict = nullptr;
    std::array<uint8_t, kMaxKeys> position{};
  };
  // Starts loading the dict items an entry will verify: a heap block of its
  // own per param, so a cache miss each unless loaded ahead.
  static void prefetch_items(const Entry& entry);

  struct Group {
    uint64_t generation = 0;
    std::vector<std::string> keys;
    std::vector<Entry> entries;  // by index in group.params
    std::vector<const TensorImpl*> listed;  // the list has_duplicates last saw
    bool duplicates = false;
  };
  std::vector<Group> groups_;
  std::vector<Tensors> resolved_;
  StepBuffers buffers_;
};

// Checks every param's resolved state against `shapes` (one per key, Scalar
// or LikeParam: the pointwise step's entries): a one-element tensor, or a
// dense tensor of the param's dtype, shape and device. Raises RuntimeError
// naming the optimizer, param and key; run before a step changes anything.
void check_state(const std::string& optimizer, const std::vector<ParamRef>& params,
                 const std::vector<StateCache::Tensors>& state, const std::vector<std::string>& keys,
                 const std::vector<StateShape>& shapes);

}  // namespace descent::optim::detail
