// Prints the learning-rate curve of every scheduler, for typical settings, as
// CSV (plot,series,step,lr) on stdout. docs/gallery/render.py turns it into
// the SVG plots of docs/schedulers.md:
//   build/bench/lr_gallery > lr.csv && python3 docs/gallery/render.py lr.csv docs/gallery
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "descent/optim/lr_scheduler.h"
#include "descent/optim/sgd.h"
#include "descent/optim/swa_utils.h"
#include "descent/tensor/ops.h"

using namespace descent;
using namespace descent::optim;
using namespace descent::optim::lr;

namespace {

constexpr int kSteps = 100;

struct Run {
  Tensor param = zeros({1}, {.requires_grad = true});
  SGD opt{{param}, {.lr = 0.1, .momentum = 0.9}};
};

void emit(const std::string& plot, const std::string& series, int step, double lr) {
  std::printf("%s,\"%s\",%d,%.10g\n", plot.c_str(), series.c_str(), step, lr);
}

// Builds a scheduler on a fresh optimizer (lr 0.1), records the lr before
// each of `steps` steps; `advance` defaults to scheduler.step().
void curve(const std::string& plot, const std::string& series,
           const std::function<std::shared_ptr<LRScheduler>(Optimizer&)>& build, int steps = kSteps,
           const std::function<void(LRScheduler&, int)>& advance = nullptr) {
  Run run;
  auto scheduler = build(run.opt);
  for (int step = 0; step < steps; ++step) {
    emit(plot, series, step, run.opt.param_groups()[0].lr());
    run.opt.step();
    if (advance) {
      advance(*scheduler, step);
    } else {
      scheduler->step();
    }
  }
}

template <typename S, typename... A>
std::function<std::shared_ptr<LRScheduler>(Optimizer&)> make(A... args) {
  return [=](Optimizer& o) { return std::make_shared<S>(o, args...); };
}

}  // namespace

int main() {
  std::printf("plot,series,step,lr\n");
  curve("LambdaLR", "0.95^epoch", [](Optimizer& o) {
    return std::make_shared<LambdaLR>(o, [](int64_t e) { return std::pow(0.95, static_cast<double>(e)); });
  });
  curve("MultiplicativeLR", "x0.95 per epoch",
        [](Optimizer& o) { return std::make_shared<MultiplicativeLR>(o, [](int64_t) { return 0.95; }); });
  curve("StepLR", "step_size=30, gamma=0.1", make<StepLR>(int64_t{30}, 0.1));
  curve("MultiStepLR", "milestones=[30, 80], gamma=0.1",
        make<MultiStepLR>(std::vector<int64_t>{30, 80}, 0.1));
  curve("ConstantLR", "factor=1/3, total_iters=20", make<ConstantLR>(1.0 / 3, int64_t{20}));
  curve("LinearLR", "start_factor=1/3, total_iters=20", make<LinearLR>(1.0 / 3, 1.0, int64_t{20}));
  curve("ExponentialLR", "gamma=0.95", make<ExponentialLR>(0.95));
  curve("PolynomialLR", "total_iters=80, power=1", make<PolynomialLR>(int64_t{80}, 1.0));
  curve("PolynomialLR", "total_iters=80, power=2", make<PolynomialLR>(int64_t{80}, 2.0));
  curve("CosineAnnealingLR", "T_max=50", make<CosineAnnealingLR>(int64_t{50}, 0.0));
  curve("CosineAnnealingLR", "T_max=50, eta_min=0.02", make<CosineAnnealingLR>(int64_t{50}, 0.02));
  curve("CosineAnnealingWarmRestarts", "T_0=10, T_mult=2",
        make<CosineAnnealingWarmRestarts>(int64_t{10}, int64_t{2}, 0.001));
  curve("CosineAnnealingWarmRestarts", "T_0=25, T_mult=1",
        make<CosineAnnealingWarmRestarts>(int64_t{25}, int64_t{1}, 0.001));
  for (const std::string mode : {"triangular", "triangular2", "exp_range"}) {
    curve("CyclicLR", mode, [mode](Optimizer& o) {
      return std::make_shared<CyclicLR>(o, 0.01, 0.1,
                                        CyclicLROptions{.step_size_up = 10, .mode = mode, .gamma = 0.98});
    });
  }
  curve("OneCycleLR", "cos", [](Optimizer& o) {
    return std::make_shared<OneCycleLR>(o, 0.1, OneCycleLROptions{.total_steps = kSteps});
  });
  curve("OneCycleLR", "linear", [](Optimizer& o) {
    return std::make_shared<OneCycleLR>(
        o, 0.1, OneCycleLROptions{.total_steps = kSteps, .anneal_strategy = "linear"});
  });
  curve("OneCycleLR", "three_phase", [](Optimizer& o) {
    return std::make_shared<OneCycleLR>(o, 0.1,
                                        OneCycleLROptions{.total_steps = kSteps, .three_phase = true});
  });
  curve("SequentialLR", "LinearLR warm-up, then CosineAnnealingLR", [](Optimizer& o) {
    return std::make_shared<SequentialLR>(o,
                                          SchedulerList{std::make_shared<LinearLR>(o, 0.01, 1.0, 10),
                                                        std::make_shared<CosineAnnealingLR>(o, 90)},
                                          std::vector<int64_t>{10});
  });
  curve("ChainedScheduler", "ConstantLR(0.1, 10) and ExponentialLR(0.97)", [](Optimizer& o) {
    return std::make_shared<ChainedScheduler>(
        SchedulerList{std::make_shared<ConstantLR>(o, 0.1, 10), std::make_shared<ExponentialLR>(o, 0.97)});
  });
  // A validation loss that improves, then stalls twice.
  curve(
      "ReduceLROnPlateau", "patience=5, factor=0.5",
      [](Optimizer& o) {
        return std::make_shared<ReduceLROnPlateau>(o, ReduceLROnPlateauOptions{.factor = 0.5, .patience = 5});
      },
      kSteps,
      [](LRScheduler& s, int step) {
        const double loss = step < 30 ? 1.0 / (1 + step) : (step < 60 ? 0.03 : 0.02);
        static_cast<ReduceLROnPlateau&>(s).step(loss);
      });
  // SWA: cosine annealing for 60 epochs, then SWALR anneals to swa_lr = 0.05.
  {
    Run run;
    CosineAnnealingLR cos(run.opt, 100);
    std::unique_ptr<swa_utils::SWALR> swa;
    for (int step = 0; step < kSteps; ++step) {
      emit("SWALR", "CosineAnnealingLR, then SWALR(swa_lr=0.05, anneal_epochs=10)", step,
           run.opt.param_groups()[0].lr());
      run.opt.step();
      if (step < 60) {
        cos.step();
      } else {
        if (!swa) swa = std::make_unique<swa_utils::SWALR>(run.opt, 0.05, 10);
        swa->step();
      }
    }
  }
  return 0;
}
