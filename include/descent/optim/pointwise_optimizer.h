#pragma once
// The base of the optimizers whose update is pointwise (SGD, Adam, AdamW,
// Adadelta, Adagrad, Adamax, ASGD, NAdam, RAdam, RMSprop, Rprop): what they
// share beyond Optimizer is what their definitions declare — the options,
// with their validation, and the per-parameter state — which brings an older
// state dict up to date and checks a loaded one before it replaces anything.
#include <string>
#include <vector>

#include "descent/optim/optimizer.h"

namespace descent::optim {

/// Base of the optimizers whose update is elementwise per parameter; runs the for-loop, foreach or fused implementation.
class PointwiseOptimizer : public Optimizer {
 public:
  /// One entry of a param's state, as its group's options call for it.
  struct StateEntry {
    std::string key;
    bool like_param;  // a tensor of the param's shape; else a one-element scalar
    bool required;    // a started state must hold it
  };
  /// What an optimizer's definition declares (optim/pointwise.h builds it).
  struct Declaration {
    // Raises what the constructor raises for these options.
    void (*validate_options)(const std::string& optimizer, const Dict& options) = nullptr;
    std::vector<StateEntry> (*state_entries)(const ParamGroup& group) = nullptr;
    Dict options_defaults;  // the options struct's own defaults
  };

  // The state a param of param_groups()[group] holds once its first step
  // ran, as that group's options call for it (Adam with amsgrad adds
  // max_exp_avg_sq; SGD without momentum holds nothing).
  std::vector<StateEntry> declared_state(std::size_t group = 0) const;

 protected:
  PointwiseOptimizer(std::string name, Dict defaults, Declaration declaration);
  // Restores the flag options (bool or None) a loaded group lacks, as
  // PyTorch's __setstate__ does: flags were added over releases. A missing
  // number is not guessed; check_loaded_group reports it.
  void setstate_group_defaults(ParamGroup& group) override;
  // A step counter saved as a number (older releases) becomes a tensor.
  void upgrade_param_state(const ParamGroup& group, const Tensor& param, Dict& state) override;
  void check_loaded_group(const ParamGroup& group, std::size_t group_index,
                          const OptimizerState& state) const override;

 private:
  Declaration declaration_;
};

}  // namespace descent::optim
