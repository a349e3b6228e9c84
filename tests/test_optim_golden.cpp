// Golden trajectories: every case of tests/fixtures/optim/<name>.txt (written
// by scripts/fixtures/optim_trajectories.py from PyTorch 2.x, the CURRENT
// oracle) replayed through make_optimizer with the forloop, foreach and fused
// implementations. Params are compared after every step, state at the end.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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
  std::vector<Tensor> params;
  for (std::size_t i = 0; c.has("init" + std::to_string(i)); ++i)
    params.push_back(c.tensor("init" + std::to_string(i)).clone().requires_grad_());
  auto opt = make(info, Params(params), kwargs);
  const auto own = info.golden_tolerance.find(dtype);
  Tolerance tol = own != info.golden_tolerance.end() ? own->second : golden_tolerance(dtype);
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

// The problems of the closure-driven cases (CLOSURE_PROBLEMS of
// scripts/fixtures/optim_trajectories.py), op for op as there: the loss and
// the gradient at the params' current values.
std::pair<Tensor, std::vector<Tensor>> closure_problem(const std::string& name, const std::vector<Tensor>& params) {
  if (name == "rosenbrock") {
    const Tensor x = params[0].detach(), y = params[1].detach();
    const Tensor a = 1 - x;
    const Tensor b = y - x * x;
    return {(a * a + (b * b) * 100).sum(), {a * -2 - (x * 400) * b, b * 200}};
  }
  if (name == "ill_conditioned") {
    const Tensor p = params[0].detach();
    const Tensor h = tensor<double>({1.0, 50.0}).to(p.dtype());
    const Tensor c = tensor<double>({1.0, -1.0}).to(p.dtype());
    return {((p * p * h) * 0.5 + c * p).sum(), {h * p + c}};
  }
  raise<ValueError>("golden fixture: unknown closure problem '", name, "'");
}

// A fixture scalar: a Python int in decimal, a float as float.hex().
Value fixture_number(const std::string& text) {
  if (text.find("0x") != std::string::npos || text.find_first_of("ni") != std::string::npos)
    return std::strtod(text.c_str(), nullptr);
  return static_cast<int64_t>(std::strtoll(text.c_str(), nullptr, 10));
}

// A closure-driven case: step(closure) on the case's problem (negated under
// maximize=True); per step the returned loss, the number of closure
// evaluations and the params; at the end the first param's state, with
// lists checked by length and their recorded entries.
void replay_closure(const OptimizerInfo& info, const FixtureCase& c) {
  Dict kwargs;
  for (const auto& [key, literal] : c.config) kwargs.set(key, parse_python_literal(literal));
  INFO(c.name);
  std::vector<Tensor> params;
  for (int i = 0; c.has("init" + std::to_string(i)); ++i)
    params.push_back(c.tensor("init" + std::to_string(i)).clone().requires_grad_());
  const Dtype dtype = params[0].dtype();
  const std::string problem = c.scalars.at("problem");
  const bool negate = flag_on(kwargs, "maximize");
  auto opt = make(info, Params(params), kwargs);
  int64_t evals = 0;
  auto closure = [&] {
    ++evals;
    opt->zero_grad();
    auto [loss, grads] = closure_problem(problem, params);
    for (std::size_t i = 0; i < params.size(); ++i) params[i].set_grad(negate ? grads[i] * -1 : grads[i]);
    return negate ? loss * -1 : loss;
  };
  const Tolerance tol = golden_tolerance(dtype);
  double& worst = deviations()[info.name + " closure " + to_string(dtype)];
  auto compare = [&](const Tensor& actual, const Tensor& expected) {
    std::string diff = mismatch(actual.detach(), expected, tol);
    CHECK_MESSAGE(diff.empty(), diff);
    worst = std::max(worst, max_relative_error(actual, expected));
  };
  int step = 1;
  for (; c.has("loss" + std::to_string(step)); ++step) {
    INFO("step ", step);
    evals = 0;
    compare(opt->step(closure), c.tensor("loss" + std::to_string(step)));
    CHECK(evals == static_cast<int64_t>(c.scalar("evals" + std::to_string(step))));
    for (std::size_t i = 0; i < params.size(); ++i)
      compare(params[i], c.tensor("param" + std::to_string(step) + "_" + std::to_string(i)));
  }
  CHECK(step > 1);
  const Dict* state = opt->state().find(params[0]);
  REQUIRE(state != nullptr);
  const std::string prefix = "state0_";
  // An entry "<key>_<k>" of a list <key> (one whose length is recorded), or the whole value of <key>.
  auto entry = [&](const std::string& name) -> const Value& {
    const std::size_t cut = name.rfind('_');
    if (cut != std::string::npos && c.scalars.count(prefix + name.substr(0, cut) + "_len")) {
      const Value& list = state->at(name.substr(0, cut));
      const std::size_t k = std::stoul(name.substr(cut + 1));
      REQUIRE(k < list.to_list().items.size());
      return list.to_list().items[k];
    }
    return state->at(name);
  };
  for (const auto& [key, expected] : c.tensors) {
    if (key.rfind(prefix, 0) != 0) continue;
    INFO("state ", key);
    const Value& actual = entry(key.substr(prefix.size()));
    REQUIRE(actual.is_tensor());
    compare(actual.to_tensor(), expected);
  }
  for (const auto& [key, text] : c.scalars) {
    if (key.rfind(prefix, 0) != 0) continue;
    INFO("state ", key, " = ", text);
    const std::string name = key.substr(prefix.size());
    const Value expected = fixture_number(text);
    if (name.size() > 4 && name.substr(name.size() - 4) == "_len") {
      CHECK(state->at(name.substr(0, name.size() - 4)).to_list().items.size() ==
            static_cast<std::size_t>(expected.to_int()));
      continue;
    }
    const Value& actual = entry(name);
    // Python's int / float distinction is state too (t = lr stays an int).
    CHECK(actual.type_name() == expected.type_name());
    if (expected.is_int()) {
      CHECK(actual == expected);
    } else {
      const double a = actual.to_double(), e = expected.to_double();
      CHECK_MESSAGE(std::abs(a - e) <= tol.atol + tol.rtol * std::abs(e), a, " vs ", e);
    }
  }
}

}  // namespace

TEST_CASE("golden trajectories: forloop, foreach and fused against PyTorch") {
  for (const OptimizerInfo& info : rows_for("golden")) {
    auto cases = load_fixture("optim/" + lower(info.name) + ".txt");
    CHECK_MESSAGE(!cases.empty(), "no golden cases for ", info.name);
    for (const FixtureCase& c : cases) {
      // An optimizer that evaluates its closure itself replays closure-driven cases.
      if (info.step_requires_closure) {
        replay_closure(info, c);
        continue;
      }
      for (const Impl& impl : kImpls) {
        if (impl.flag && !info.supports(impl.flag)) continue;
        replay(info, c, impl);
      }
    }
  }
  std::printf("largest relative deviation from the PyTorch trajectories:\n");
  for (const auto& [key, worst] : deviations()) std::printf("  %-28s %.3g\n", key.c_str(), worst);
}
