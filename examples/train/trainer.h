#pragma once
// One training run of descent-train: the synthetic data, the MLP, the
// optimizer, its schedulers and weight averaging, the loop, checkpoints.
//
// Reproducibility: the data set and the initial weights come from
// Generators seeded by the run's seed; minibatches are shuffled without
// replacement by one more Generator, seeded once per run. The checkpoint
// stores that Generator's state with the current permutation and position,
// so a resumed run draws exactly the batches the uninterrupted one would have.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "examples/train/config.h"

namespace train {

struct History {
  std::vector<double> loss;  // the minibatch loss of each step
  std::vector<double> lr;    // the lr each step used
};

struct Result {
  History history;
  int64_t steps_done = 0;
  bool interrupted = false;  // stopped by stop_after
  double eval_loss = 0;      // on a held-out set of the task
  double accuracy = -1;      // classification only (-1: not applicable)
  double averaged_eval_loss = -1;  // of the EMA/SWA model, when there is one
  double averaged_accuracy = -1;
  double seconds = 0;
  std::vector<uint8_t> final_params;  // serialized model state, for bitwise comparisons
  std::string checkpoint_written;     // the last checkpoint file written
};

// Called after each step: step (1-based), total, loss, lr.
using StepCallback = std::function<void(int64_t, int64_t, double, double)>;

// Trains (or, with out.resume, continues) one run. Throws descent::Error
// subclasses for bad configurations (an optimizer that cannot train the
// MLP, an unknown scheduler, a checkpoint from another kind of run).
Result run_training(const RunConfig& config, const OutputConfig& out, const StepCallback& on_step);

// The config stored in a checkpoint (what --resume continues).
RunConfig checkpoint_config(const std::string& path);

// Scheduler names --scheduler accepts, with a description of the defaults derived from --steps.
const std::vector<std::pair<std::string, std::string>>& scheduler_help();

}  // namespace train
