#pragma once
// Shared fixture of the scheduler suites: PyTorch's TestLRScheduler setup (SGD
// with two groups, lr 0.05 and a float32 tensor lr 0.5) and the comparison
// of recorded lr sequences with the golden ones of scripts/fixtures/lr_scheduler.py.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "descent/descent.h"
#include "descent/optim/lr_scheduler.h"
#include "fixtures.h"

namespace descent::testing {

using namespace descent::optim;
using namespace descent::optim::lr;

struct SchedulerFixture {
  Tensor p0 = zeros({1}, {.requires_grad = true});
  Tensor p1 = zeros({1}, {.requires_grad = true});
  SGD opt;

  explicit SchedulerFixture(double momentum = 0.0, double lr = 0.05, double lr1 = 0.5)
      : opt(Params{ParamGroup({p0}),
                   ParamGroup({p1}, Dict{{"lr", Value(scalar_tensor(static_cast<float>(lr1)))}})},
            {.lr = lr, .momentum = momentum}) {}
};

inline std::vector<double> group_values(const Optimizer& opt, const std::string& key) {
  std::vector<double> out;
  for (const ParamGroup& g : opt.param_groups()) {
    const Value& v = g.at(key);
    out.push_back(v.is_list() ? v[0].to_double() : v.to_double());
  }
  return out;
}

// lr (and momentum or beta1) of each group before each step, as the fixture script records them.
struct Recording {
  std::vector<double> lr0, lr1, mom0, mom1;
  void record(const Optimizer& opt, bool momentum) {
    auto lrs = group_values(opt, "lr");
    lr0.push_back(lrs[0]);
    lr1.push_back(lrs[1]);
    if (momentum) {
      auto m = group_values(opt, opt.param_groups()[0].contains("betas") ? "betas" : "momentum");
      mom0.push_back(m[0]);
      mom1.push_back(m[1]);
    }
  }
};

// Records, steps the optimizer, then calls `step(epoch)`, `epochs` times.
inline Recording run(Optimizer& opt, int epochs, const std::function<void(int)>& step,
                     bool momentum = false) {
  Recording rec;
  for (int e = 0; e < epochs; ++e) {
    rec.record(opt, momentum);
    opt.step();
    step(e);
  }
  return rec;
}

inline const FixtureCase& golden(const std::string& file, const std::string& name) {
  static std::map<std::string, std::vector<FixtureCase>> cache;
  auto& cases = cache[file];
  if (cases.empty()) cases = load_fixture("lr_scheduler/" + file);
  for (const auto& c : cases)
    if (c.name == name) return c;
  raise<KeyError>("no case ", name, " in lr_scheduler/", file);
}

// Group 0 is computed in float64 like Python floats; group 1 is a float32 tensor lr.
inline void check_series(const std::vector<double>& actual, const FixtureCase& expected,
                         const std::string& key, double rtol) {
  INFO(expected.name, "/", key);
  std::vector<double> want = expected.tensor(key).to_vector<double>();
  REQUIRE(actual.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("step ", i, ": ", actual[i], " vs ", want[i]);
    CHECK(std::abs(actual[i] - want[i]) <= 1e-15 + rtol * std::abs(want[i]));
  }
}

inline void check_golden(const Recording& rec, const std::string& file, const std::string& name) {
  const FixtureCase& c = golden(file, name);
  check_series(rec.lr0, c, "lr0", 1e-12);
  if (c.has("lr1")) check_series(rec.lr1, c, "lr1", 2e-6);
  if (c.has("mom0")) check_series(rec.mom0, c, "mom0", 1e-12);
  if (c.has("mom1")) check_series(rec.mom1, c, "mom1", 2e-6);
}

inline std::function<void(int)> stepping(LRScheduler& s) {
  return [&s](int) { s.step(); };
}

}  // namespace descent::testing
