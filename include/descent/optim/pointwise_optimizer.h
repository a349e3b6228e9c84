#pragma once
// The base of the optimizers whose update is pointwise (SGD, Adam, AdamW,
// Adadelta, Adagrad, Adamax, ASGD, NAdam, RAdam, RMSprop, Rprop; Adafactor,
// whose step is its own): what they share beyond Optimizer is what their
// definitions declare — the options, with their validation, and the
// per-parameter state with each entry's shape — which brings an older state
// dict up to date and checks a loaded one before it replaces anything.
#include <string>
#include <vector>

#include "descent/optim/optimizer.h"

namespace descent::optim {

/// The shape of one state entry, as a rule on its param's shape.
enum class StateShape {
  Scalar,     ///< one element (a 0-dim tensor, or a number where the state keeps one)
  LikeParam,  ///< the param's shape
  Rows,       ///< the param's shape with the last dim 1: one value per row (Adafactor's row_var; dim >= 2)
  Columns,    ///< the param's shape with dim -2 set to 1: one value per column (Adafactor's col_var; dim >= 2)
};

/// The shape `rule` gives a state entry of a param of shape `param` (Scalar: `{}`).
/// Rows and Columns need a param of at least 2 dims: ValueError otherwise.
Shape state_shape(StateShape rule, const Shape& param);

/// Base of the optimizers whose update is elementwise per parameter; runs the for-loop, foreach or fused implementation.
class PointwiseOptimizer : public Optimizer {
 public:
  /// One entry of a param's state, as its group's options call for it.
  struct StateEntry {
    std::string key;
    StateShape shape;  // state_shape(shape, param.sizes()) is the tensor's shape
    bool required;     // a started state must hold it
  };
  /// What an optimizer's definition declares (optim/pointwise.h builds it).
  struct Declaration {
    // Raises what the constructor raises for these options.
    void (*validate_options)(const std::string& optimizer, const Dict& options) = nullptr;
    // `param` is one of `group`'s params: the entries may depend on its dims (Adafactor's).
    std::vector<StateEntry> (*state_entries)(const ParamGroup& group, const Tensor& param) = nullptr;
    Dict options_defaults;  // the options struct's own defaults
  };

  // The state `param` holds once its first step ran, as its group's options
  // and its dims call for it (Adam with amsgrad adds max_exp_avg_sq; SGD
  // without momentum holds nothing; Adafactor factors a matrix's second
  // moment into Rows and Columns). ValueError if `param` is not a param of
  // this optimizer.
  std::vector<StateEntry> declared_state(const Tensor& param) const;

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
