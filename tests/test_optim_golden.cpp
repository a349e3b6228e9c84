// Golden trajectories: every case of tests/fixtures/optim/<name>.txt (written
// by scripts/fixtures/optim_trajectories.py from PyTorch 2.x, the CURRENT
// oracle) replayed through make_optimizer with the forloop, foreach and fused
// implementations. Params are compared after every step, state at the end.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "fixtures.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

// Far tighter than the catalogue's defaults: the forloop follows PyTorch's op
// order, so trajectories agree to the last bit or nearly.
Tolerance golden_tolerance(Dtype dtype) {
  bool wide = dtype == kFloat64 || dtype == kComplex128;
  return wide ? Tolerance{1e-12, 1e-15} : Tolerance{1e-6, 1e-8};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct Impl {
  const char* name;
  const char* flag;  // the flag set True; nullptr: none
  bool explicit_forloop;  // foreach=False, fused=False given
};
// "default" gives no flag: the fastest path bit-identical to the forloop.
constexpr Impl kImpls[] = {{"forloop", nullptr, true},
                           {"default", nullptr, false},
                           {"foreach", "foreach", false},
                           {"fused", "fused", false}};

// Largest relative deviation per optimizer/implementation/dtype, printed once.
std::map<std::string, double>& deviations() {
  static std::map<std::string, double> d;
  return d;
}

void replay(const OptimizerInfo& info, const FixtureCase& c, const Impl& impl) {
  Dict kwargs;
  for (const auto& [key, literal] : c.config) kwargs.set(key, parse_python_literal(literal));
  Dtype dtype = c.tensor("init0").dtype();
  if (impl.flag) {
    if (std::string(impl.flag) == "fused" && !is_floating_point(dtype)) return;
    // PyTorch itself rejects a tensor lr with foreach=True on the CPU for Adam.
    const Value* lr = kwargs.find("lr");
    if (std::string(impl.flag) == "foreach" && lr && lr->is_tensor() && info.foreach_rejects_tensor_lr) return;
    kwargs.set(impl.flag, true);
  }
  if (impl.explicit_forloop) {
    if (info.supports("foreach")) kwargs.set("foreach", false);
    if (info.supports("fused")) kwargs.set("fused", false);
  }
  // Where PyTorch's foreach takes another op sequence, the fixture holds
  // its own trajectory under foreach_ keys.
  const bool own_foreach = impl.flag && std::string(impl.flag) == "foreach" && c.has("foreach_param1_0");
  const std::string prefix = own_foreach ? "foreach_" : "";
  INFO(c.name, " ", impl.name);
  std::vector<Tensor> params{c.tensor("init0").clone().requires_grad_(),
                             c.tensor("init1").clone().requires_grad_()};
  auto opt = make(info, Params(params), kwargs);
  Tolerance tol = golden_tolerance(dtype);
  double& worst = deviations()[info.name + " " + impl.name + " " + to_string(dtype)];
  int step = 1;
  for (; c.has(prefix + "param" + std::to_string(step) + "_0"); ++step) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      std::string key = "grad" + std::to_string(step) + "_" + std::to_string(i);
      if (c.has(key)) {
        params[i].set_grad(c.tensor(key).clone());
      } else {
        params[i].mutable_grad() = Tensor();
      }
    }
    opt->step();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Tensor& expected = c.tensor(prefix + "param" + std::to_string(step) + "_" + std::to_string(i));
      INFO("step ", step, " param ", i);
      std::string diff = mismatch(params[i].detach(), expected, tol);
      CHECK_MESSAGE(diff.empty(), diff);
      worst = std::max(worst, max_relative_error(params[i], expected));
    }
  }
  CHECK(step > 1);
  // Final state: the same tensor entries, equal values.
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::string state_prefix = prefix + "state" + std::to_string(i) + "_";
    std::size_t expected_entries = 0;
    for (const auto& [key, expected] : c.tensors) {
      if (key.rfind(state_prefix, 0) != 0) continue;
      ++expected_entries;
      std::string name = key.substr(state_prefix.size());
      INFO("state of param ", i, ": ", name);
      const Dict* state = opt->state().find(params[i]);
      REQUIRE(state != nullptr);
      REQUIRE(state->contains(name));
      const Tensor& actual = state->at(name).to_tensor();
      std::string diff = mismatch(actual, expected, tol);
      CHECK_MESSAGE(diff.empty(), diff);
      worst = std::max(worst, max_relative_error(actual, expected));
    }
    std::size_t tensor_entries = 0;
    if (const Dict* state = opt->state().find(params[i]))
      for (const auto& [key, value] : *state) tensor_entries += value.is_tensor() ? 1 : 0;
    CHECK(tensor_entries == expected_entries);
  }
}

}  // namespace

TEST_CASE("golden trajectories: forloop, foreach and fused against PyTorch") {
  for (const OptimizerInfo& info : rows_for("golden")) {
    auto cases = load_fixture("optim/" + lower(info.name) + ".txt");
    CHECK_MESSAGE(!cases.empty(), "no golden cases for ", info.name);
    for (const FixtureCase& c : cases)
      for (const Impl& impl : kImpls) {
        if (impl.flag && !info.supports(impl.flag)) continue;
        replay(info, c, impl);
      }
  }
  std::printf("largest relative deviation from the PyTorch trajectories:\n");
  for (const auto& [key, worst] : deviations()) std::printf("  %-28s %.3g\n", key.c_str(), worst);
}
