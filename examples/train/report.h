#pragma once
// descent-train's output: the live progress display and the SVG charts.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "examples/train/trainer.h"

namespace train {

// On a terminal: one line redrawn in place (bar, step, loss, lr, steps/s,
// ETA) at most every 1/15 s. Otherwise: a plain line every tenth of the run.
class Progress {
 public:
  Progress(std::string label, bool terminal, bool periodic_lines = true);
  void update(int64_t step, int64_t total, double loss, double lr);
  // Ends the in-place line (prints the final state).
  void finish();

 private:
  std::string label_;
  bool terminal_;
  bool periodic_;
  bool drawn_ = false;
  int64_t first_step_ = -1;
  int64_t last_step_ = 0, last_total_ = 0;
  double last_loss_ = 0, last_lr_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  void draw(bool final);
};

struct Curve {
  std::string name;
  const History* history;
};

// Two stacked charts sharing the step axis: loss (log scale) and lr. One
// coloured line per curve, with a legend when there are several.
void write_svg(const std::string& path, const std::string& title, const std::vector<Curve>& curves);

}  // namespace train
