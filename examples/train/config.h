#pragma once
// descent-train's configuration: what a training run is (task, model,
// optimizer, schedule, averaging, length, seed) and how to run it (output,
// checkpoints). The run part is stored in every checkpoint so that --resume
// continues exactly the run that wrote it.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "descent/optim/value.h"

namespace train {

struct RunConfig {
  std::string task = "spirals";  // "spirals" (classification) or "regression"
  int64_t hidden = 32;
  int64_t batch = 128;
  std::string optimizer = "AdamW";
  std::optional<double> lr{};  // unset: a learning rate that suits the optimizer on this model
  // Further optimizer keywords (--opt momentum=0.9), as PyTorch names them.
  std::vector<std::pair<std::string, std::string>> options{};
  std::string scheduler = "onecycle";
  double ema = 0.0;         // 0: off; else the EMA decay
  int64_t swa_start = -1;   // -1: off; else the step SWA averaging (and SWALR) starts at
  std::optional<double> swa_lr{};  // SWALR's target lr (default: lr / 10)
  int64_t steps = 1000;
  uint64_t seed = 0;

  // The lr the run uses: --lr, or the suggestion for the optimizer.
  double effective_lr() const;
  descent::Dict to_dict() const;
  static RunConfig from_dict(const descent::Dict& dict);
};

struct OutputConfig {
  std::string checkpoint{};     // empty: no checkpoints
  int64_t checkpoint_every = 0; // 0: steps / 4
  std::string resume{};         // a checkpoint to continue from
  int64_t stop_after = 0;       // > 0: stop (as if interrupted) after this step, checkpointing it
  std::string svg{};            // loss and lr curves
  std::vector<std::string> compare{};  // optimizers to compare
  bool quiet = false;           // no progress output
};

// "adamw" -> "AdamW": the registry name matching case-insensitively; a
// ValueError listing the known names otherwise.
std::string canonical_optimizer(const std::string& name);

// Parses a keyword value as Python would read it: true/false, none, an int,
// a float, a comma-separated tuple of those, or else a string.
descent::Value parse_value(const std::string& text);

}  // namespace train
