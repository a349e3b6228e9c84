// state_dict / load_state_dict for every registry row (test-catalogue §1
// #10, #26-#30, #32-#37) and the base-class load rules of optimizer-base.md
// §6-§8: layout, casting, compatibility, atomic failure, checkpoint files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "descent/optim/checkpoint.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

Params maybe_named(const std::vector<Tensor>& params, bool named) {
  if (!named) return Params(params);
  std::vector<std::pair<std::string, Tensor>> pairs;
  for (std::size_t i = 0; i < params.size(); ++i) pairs.emplace_back("name" + std::to_string(i), params[i]);
  return Params(pairs);
}

Dict without_param_names(const Dict& sd) {
  Dict copy = deepcopy(sd).to_dict();
  for (Value& group : copy.at("param_groups").to_list().items) group.to_dict().erase("param_names");
  return copy;
}

Dict& group0(Dict& sd) { return sd.at("param_groups").to_list().items[0].to_dict(); }

// Linear(4,2) -> BatchNorm1d(2): the C++ stand-in for PyTorch's Conv2d -> BatchNorm2d.
struct SmallModel {
  nn::Sequential model;
  Tensor input;
  SmallModel() : model(nn::Linear(4, 2), nn::BatchNorm1d(2)), input(rand({3, 4})) {}
  // With sparse_grads the grads are made sparse (SparseAdam takes no others).
  Tensor closure(Optimizer& opt, bool sparse_grads = false) {
    opt.zero_grad();
    Tensor loss = model.forward(input).sum();
    loss.backward();
    if (sparse_grads)
      for (Tensor p : model.parameters())
        if (p.grad().defined()) p.set_grad(p.grad().to_sparse());
    return loss;
  }
};

void step_n(const OptimizerInfo& info, Optimizer& opt, const optim::Closure& closure, int n) {
  for (int i = 0; i < n; ++i) step_once(info, opt, closure);
}

}  // namespace

TEST_CASE("test_state_dict_deterministic") {
  for (const OptimizerInfo& info : rows_for("test_state_dict_deterministic")) {
    if (info.only_supports_sparse_grads) continue;
    Quadratic q(2, 3, kFloat32, 13);
    for (const Dict& config : expanded_configs(info, kFloat32, {"differentiable"}))
      for (bool named0 : {false, true})
        for (bool named1 : {false, true}) {
          INFO(info.name, " ", describe(config), " named: ", named0, " ", named1);
          auto opt = make(info, maybe_named(params_for(info, {q.weight, q.bias}), named0), config);
          step_n(
              info, *opt, [&] { return q.closure(*opt); }, 10);
          Quadratic c = q;
          c.weight = q.weight.detach().clone().requires_grad_();
          c.bias = q.bias.detach().clone().requires_grad_();
          auto opt_c = make(info, maybe_named(params_for(info, {c.weight, c.bias}), named1), config);
          opt_c->load_state_dict(deepcopy(opt->state_dict()).to_dict());
          for (int i = 0; i < 10; ++i) {
            step_once(info, *opt, [&] { return q.closure(*opt); });
            step_once(info, *opt_c, [&] { return c.closure(*opt_c); });
            CHECK(equal(q.weight, c.weight));
            CHECK(equal(q.bias, c.bias));
          }
          CHECK(Value(without_param_names(opt->state_dict())) ==
                Value(without_param_names(opt_c->state_dict())));
          // Repeated parameters serialise with the ids of their first occurrence.
          auto groups = opt_c->param_groups();
          for (const ParamGroup& g : groups) opt_c->param_groups().push_back(g);
          Dict sd = without_param_names(opt->state_dict());
          Dict sd_c = without_param_names(opt_c->state_dict());
          CHECK(sd.at("param_groups").to_list().items.back() ==
                sd_c.at("param_groups").to_list().items.back());
        }
  }
}

TEST_CASE("test_can_load_older_state_dict") {
  for (const OptimizerInfo& info : rows_for("test_can_load_older_state_dict")) {
    if (info.only_supports_sparse_grads) continue;
    for (const Dict& config : expanded_configs(info, kFloat32, {"differentiable"})) {
      INFO(info.name, " ", describe(config));
      SmallModel m;
      auto opt = make(info, Params(params_for(info, m.model.parameters())), config);
      step_n(
          info, *opt, [&] { return m.closure(*opt); }, 3);
      Dict sd = deepcopy(opt->state_dict()).to_dict();
      for (Value& group : sd.at("param_groups").to_list().items)
        for (const std::string& flag : info.not_og_supported_flags) group.to_dict().erase(flag);
      opt->load_state_dict(sd);
      // The optimizer's load fix-ups restore every flag older releases lacked.
      for (const std::string& flag : info.not_og_supported_flags)
        CHECK(opt->param_groups()[0].contains(flag));
      CHECK_NOTHROW(step_n(
          info, *opt, [&] { return m.closure(*opt); }, 1));
    }
  }
}

TEST_CASE("test_can_load_from_to_named_state_dict") {
  for (const OptimizerInfo& info : rows_for("test_can_load_from_to_named_state_dict")) {
    const bool sparse = info.only_supports_sparse_grads;
    for (const Dict& config : expanded_configs(info, kFloat32, {"differentiable"}))
      for (bool named0 : {false, true})
        for (bool named1 : {false, true}) {
          INFO(info.name, " ", describe(config), " named: ", named0, " ", named1);
          SmallModel m;
          std::vector<std::pair<std::string, Tensor>> named_params;
          for (const auto& [name, p] : m.model.named_parameters())
            if (!params_for(info, {p}).empty()) named_params.emplace_back(name, p);
          auto params = [&](bool named) {
            std::vector<Tensor> plain;
            for (const auto& [name, p] : named_params) plain.push_back(p);
            return named ? Params(named_params) : Params(plain);
          };
          auto opt = make(info, params(named0), config);
          step_n(
              info, *opt, [&] { return m.closure(*opt, sparse); }, 3);
          auto opt2 = make(info, params(named1), config);
          CHECK_NOTHROW(opt2->load_state_dict(opt->state_dict()));
          CHECK_NOTHROW(step_n(
              info, *opt2, [&] { return m.closure(*opt2, sparse); }, 1));
          if (named0 || named1) {
            const auto& names = opt2->param_groups()[0].param_names;
            REQUIRE(names.has_value());
            std::vector<std::string> expected;
            for (const auto& [name, p] : named_params) expected.push_back(name);
            CHECK(*names == expected);
          }
        }
  }
}

TEST_CASE("test_save_load_equality_with_weights_only") {
  auto path =
      std::filesystem::temp_directory_path() / ("descent-optim-" + std::to_string(::getpid()) + ".dckpt");
  for (const OptimizerInfo& info : rows_for("test_save_load_equality_with_weights_only"))
    for (const Dict& config : expanded_configs(info, kFloat32, {"differentiable"}))
      for (bool named : {false, true}) {
        INFO(info.name, " ", describe(config), " named: ", named);
        Quadratic q(2, 3, kFloat32, 19);
        auto opt = make(info, maybe_named(params_for(info, {q.weight, q.bias}), named), config);
        for (int i = 0; i < 3; ++i) opt->step([&] { return q.closure(*opt); });
        Dict sd = opt->state_dict();
        save(Value(sd), path);
        CHECK(load(path) == Value(sd));
        CHECK(deserialize(serialize(Value(sd))) == Value(sd));
      }
  std::filesystem::remove(path);
}

TEST_CASE("test_load_nontensor_step") {
  for (const OptimizerInfo& info : rows_for("test_load_nontensor_step"))
    for (const Dict& config : expanded_configs(info, kFloat32, {"differentiable"})) {
      INFO(info.name, " ", describe(config));
      std::vector<Tensor> params{rand({2, 3}).requires_grad_(), rand({2, 3}).requires_grad_()};
      auto opt = make(info, Params(params), config);
      for (int i = 0; i < 3; ++i) {
        for (Tensor& p : params) p.set_grad(rand({2, 3}));
        step_once(info, *opt);
      }
      Dict sd = deepcopy(opt->state_dict()).to_dict();
      for (auto& [id, state] : sd.at("state").to_dict())
        if (Value* step = state.to_dict().find("step")) *step = step->to_double();
      opt->load_state_dict(sd);
      for (Tensor& p : params) p.set_grad(rand({2, 3}));
      CHECK_NOTHROW(step_once(info, *opt));
      for (const Tensor& p : params)
        if (const Value* step = opt->state()[p].find("step")) {
          REQUIRE(step->is_tensor());
          CHECK(step->to_double() == 4.0);
        }
    }
}

TEST_CASE("state_dict layout (optimizer-base.md §6)") {
  Tensor p = ones({2}).requires_grad_();
  auto opt = optim::make_optimizer("SGD", Params{p}, Dict{{"lr", 0.1}, {"momentum", 0.9}});
  p.set_grad(ones({2}));
  opt->step();
  Dict sd = opt->state_dict();
  CHECK(sd.keys() == std::vector<Key>{std::string("state"), std::string("param_groups")});
  const Dict& state = sd.at("state").to_dict();
  CHECK(state.keys() == std::vector<Key>{int64_t{0}});
  CHECK(state.at(int64_t{0})
            .to_dict()
            .at("momentum_buffer")
            .to_tensor()
            .is_same(opt->state()[p].at("momentum_buffer").to_tensor()));
  Dict expected_group{{"lr", 0.1},          {"momentum", 0.9},
                      {"dampening", 0},     {"weight_decay", 0},
                      {"nesterov", false},  {"maximize", false},
                      {"foreach", Value()}, {"differentiable", false},
                      {"fused", Value()},   {"params", Value::list({int64_t{0}})}};
  CHECK(Value(sd.at("param_groups").to_list().items[0]) == Value(expected_group));
}

TEST_CASE("load_state_dict casts state to the param's dtype, except step") {
  for (const OptimizerInfo& info : rows_for("load_state_dict casts state to the param's dtype, except step"))
    for (const Dict& config : expanded_configs(info, kFloat32, {"differentiable"})) {
      INFO(info.name, " ", describe(config));
      const Shape shape = shape_for(info, {3});
      std::vector<Tensor> wide{randn(shape, {.dtype = kFloat64}).requires_grad_()};
      auto source = make(info, Params(wide), config);
      wide[0].set_grad(randn(shape, {.dtype = kFloat64}));
      step_once(info, *source);
      if (source->state().size() == 0) continue;  // nothing to cast (SGD without momentum)
      Dict sd = deepcopy(source->state_dict()).to_dict();
      bool fused = flag_on(config, "fused");
      for (auto& [id, state] : sd.at("state").to_dict())
        if (Value* step = state.to_dict().find("step")) *step = full({}, 1.0, {.dtype = kFloat64});
      std::vector<Tensor> narrow{randn(shape).requires_grad_()};
      auto target = make(info, Params(narrow), config);
      target->load_state_dict(sd);
      for (const auto& [key, value] : target->state()[narrow[0]]) {
        if (!value.is_tensor()) continue;
        INFO("state ", key_to_string(key));
        bool is_step = key == Key(std::string("step"));
        CHECK(value.to_tensor().dtype() == (is_step ? (fused ? kFloat32 : kFloat64) : kFloat32));
      }
      // Loaded state never aliases the caller's dict.
      for (const auto& [key, value] : target->state()[narrow[0]])
        if (value.is_tensor())
          CHECK(!value.to_tensor().is_same(
              sd.at("state").to_dict().at(int64_t{0}).to_dict().at(key).to_tensor()));
    }
}

TEST_CASE("a failed load_state_dict leaves the optimizer exactly as it was") {
  for (const OptimizerInfo& info : rows_for("a failed load_state_dict leaves the optimizer exactly as it was")) {
    if (!info.supports_param_groups) continue;
    INFO(info.name);
    Quadratic q(3, 2, kFloat32, 23);
    // A 2-D-only row gets a 2-D second param, with a grad of ones.
    Tensor second = info.only_2d_params ? randn({2, 3}).requires_grad_() : q.bias;
    auto opt = make(info, Params{ParamGroup({q.weight}), ParamGroup({second}, Dict{{"lr", 0.5}})},
                    Dict{{"lr", 0.01}});
    for (int i = 0; i < 2; ++i) opt->step([&] {
        Tensor loss = q.closure(*opt);
        if (info.only_2d_params) second.set_grad(ones_like(second));
        return loss;
      });
    Dict good = deepcopy(opt->state_dict()).to_dict();
    std::string repr_before = opt->repr();
    Dict state_before = deepcopy(opt->state_dict()).to_dict();
    std::vector<Tensor> tensors_before;
    for (const auto& [param, state] : opt->state().entries())
      for (const auto& [key, value] : state)
        if (value.is_tensor()) tensors_before.push_back(value.to_tensor());

    auto expect_unchanged = [&] {
      CHECK(opt->repr() == repr_before);
      CHECK(Value(opt->state_dict()) == Value(state_before));
      std::size_t i = 0;
      for (const auto& [param, state] : opt->state().entries())
        for (const auto& [key, value] : state)
          if (value.is_tensor()) CHECK(value.to_tensor().is_same(tensors_before[i++]));
    };

    Dict bad = deepcopy(good).to_dict();
    group0(bad).set("lr", 123.0);
    bad.at("param_groups").to_list().items[1].to_dict().at("params").to_list().items.clear();
    CHECK_THROWS_WITH_AS(opt->load_state_dict(bad),
                         doctest::Contains("doesn't match the size of optimizer's group"), ValueError);
    expect_unchanged();

    bad = deepcopy(good).to_dict();
    bad.at("param_groups").to_list().items.pop_back();
    CHECK_THROWS_WITH_AS(opt->load_state_dict(bad), doctest::Contains("different number of parameter groups"),
                         ValueError);
    expect_unchanged();

    // An error found late (the last state entry) still changes nothing.
    bad = deepcopy(good).to_dict();
    group0(bad).set("lr", 123.0);
    bad.at("state").to_dict().set(int64_t{1}, Value(3));
    CHECK_THROWS_AS(opt->load_state_dict(bad), ValueError);
    expect_unchanged();

    CHECK_NOTHROW(opt->load_state_dict(good));
  }
}

TEST_CASE("test_adamw_serialization") {
  auto params = [] { return Params{randn({3}).requires_grad_()}; };
  auto adamw = optim::make_optimizer("AdamW", params());
  auto adam = optim::make_optimizer("Adam", params());
  adam->load_state_dict(adamw->state_dict());
  CHECK(adam->param_groups()[0].at("decoupled_weight_decay").to_bool());

  auto fresh_adam = optim::make_optimizer("Adam", params());
  Dict adam_sd = fresh_adam->state_dict();
  CHECK_FALSE(group0(adam_sd).at("decoupled_weight_decay").to_bool());
  adamw->load_state_dict(adam_sd);
  CHECK(adamw->param_groups()[0].at("decoupled_weight_decay").to_bool());

  Dict adamw_sd = adamw->state_dict();
  group0(adamw_sd).erase("decoupled_weight_decay");
  adamw->load_state_dict(adamw_sd);
  CHECK(adamw->param_groups()[0].at("decoupled_weight_decay").to_bool());
}

// ---- state_dict and load_state_dict hooks (#32-#37) ----
namespace {
std::optional<Dict> post_hook(Optimizer&, Dict& sd) {
  bool had = sd.at("state").to_dict().erase(std::string("test"));
  sd.set("ran_state_dict_pre_hook", had);
  return sd;
}
std::optional<Dict> load_pre_hook1(Optimizer&, Dict& sd) {
  group0(sd).set("lr", 0.002);
  return std::nullopt;
}
std::optional<Dict> load_pre_hook2(Optimizer&, Dict& sd) {
  Dict copy = deepcopy(sd).to_dict();
  group0(copy).set("lr", 0.003);
  return copy;
}
void load_post_hook(Optimizer& opt) {
  opt.state().extra.set("ran_load_state_dict_pre_hook2", opt.param_groups()[0].lr() == 0.003);
  opt.state().extra.set("ran_load_state_dict_post_hook", true);
}
std::unique_ptr<Optimizer> hook_optimizer(const OptimizerInfo& info) {
  Tensor p = rand({2, 3}).requires_grad_();
  p.set_grad(rand({2, 3}));
  return make(info, Params{p}, Dict{{"lr", 0.001}});
}
}  // namespace

TEST_CASE("test_state_dict_pre_hook") {
  for (const OptimizerInfo& info : rows_for("test_state_dict_pre_hook")) {
    INFO(info.name);
    auto opt = hook_optimizer(info);
    opt->register_state_dict_pre_hook([](Optimizer& o) { o.state().extra.set("test", 1); });
    CHECK(opt->state_dict().at("state").to_dict().at("test") == Value(1));
  }
}

TEST_CASE("test_state_dict_post_hook") {
  for (const OptimizerInfo& info : rows_for("test_state_dict_post_hook")) {
    INFO(info.name);
    auto opt = hook_optimizer(info);
    opt->register_state_dict_post_hook(post_hook);
    CHECK_FALSE(opt->state_dict().at("ran_state_dict_pre_hook").to_bool());
  }
}

TEST_CASE("test_state_dict_pre_post_hook") {
  for (const OptimizerInfo& info : rows_for("test_state_dict_pre_post_hook")) {
    INFO(info.name);
    auto opt = hook_optimizer(info);
    opt->register_state_dict_pre_hook([](Optimizer& o) { o.state().extra.set("test", 1); });
    opt->register_state_dict_post_hook(post_hook);
    Dict sd = opt->state_dict();
    CHECK_FALSE(sd.at("state").to_dict().contains(std::string("test")));
    CHECK(sd.at("ran_state_dict_pre_hook").to_bool());
  }
}

TEST_CASE("test_load_state_dict_pre_hook_and_prepend") {
  for (const OptimizerInfo& info : rows_for("test_load_state_dict_pre_hook_and_prepend")) {
    INFO(info.name);
    auto opt = hook_optimizer(info);
    Dict sd = opt->state_dict();
    opt->register_load_state_dict_pre_hook(load_pre_hook1);
    opt->load_state_dict(sd);
    CHECK(opt->param_groups()[0].lr() == 0.002);
    opt->register_load_state_dict_pre_hook(load_pre_hook2, true);
    opt->load_state_dict(sd);
    // hook2 runs first and returns a copy with 0.003; hook1 then edits that copy.
    CHECK(opt->param_groups()[0].lr() == 0.002);
    // The caller's dict is never modified.
    CHECK(group0(sd).at("lr").to_double() == 0.001);
  }
}

TEST_CASE("test_load_state_dict_post_hook") {
  for (const OptimizerInfo& info : rows_for("test_load_state_dict_post_hook")) {
    INFO(info.name);
    auto opt = hook_optimizer(info);
    opt->register_load_state_dict_post_hook(load_post_hook);
    opt->load_state_dict(opt->state_dict());
    CHECK_FALSE(opt->state().extra.at("ran_load_state_dict_pre_hook2").to_bool());
    CHECK(opt->state().extra.at("ran_load_state_dict_post_hook").to_bool());
  }
}

TEST_CASE("test_load_state_dict_pre_post_hook") {
  for (const OptimizerInfo& info : rows_for("test_load_state_dict_pre_post_hook")) {
    INFO(info.name);
    auto opt = hook_optimizer(info);
    opt->register_load_state_dict_pre_hook(load_pre_hook2);
    opt->register_load_state_dict_post_hook(load_post_hook);
    opt->load_state_dict(opt->state_dict());
    CHECK(opt->state().extra.at("ran_load_state_dict_pre_hook2").to_bool());
    CHECK(opt->state().extra.at("ran_load_state_dict_post_hook").to_bool());
  }
}

// Issue 13 (fault campaign): Dict::set searched linearly, so state_dict() and
// load_state_dict() were quadratic in the number of state entries (80k entries
// took 13.5 s each way).
namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

TEST_CASE("Dict keeps insertion order and O(1) lookups at 100k entries") {
  constexpr int64_t n = 100000;
  const auto start = std::chrono::steady_clock::now();
  Dict d;
  // Keys that are multiples of a large power of two: an identity hash puts them all in one bucket.
  for (int64_t i = 0; i < n; ++i) d.set(i << 20, i);
  for (int64_t i = 0; i < n; ++i) {
    const Value* v = d.find(i << 20);
    REQUIRE(v != nullptr);
    REQUIRE(v->to_int() == i);
  }
  CHECK(d.find(int64_t{1}) == nullptr);
  CHECK(d.find(std::string("0")) == nullptr);
  for (int64_t i = 0; i < n; ++i) d.set(i << 20, -i);  // overwrite keeps position and size
  const double elapsed = seconds_since(start);
  MESSAGE("Dict: 100k set + 100k find + 100k overwrite took ", elapsed, " s");
  CHECK(elapsed < 3.0);
  REQUIRE(d.size() == static_cast<std::size_t>(n));
  int64_t i = 0;
  for (const auto& [key, value] : d) {
    REQUIRE(key == Key(i << 20));
    REQUIRE(value.to_int() == -i);
    ++i;
  }

  // Copies are independent; erase keeps the order of the rest and lookups right.
  Dict copy = d;
  CHECK(copy.erase(int64_t{5} << 20));
  CHECK_FALSE(copy.erase(int64_t{5} << 20));
  CHECK(copy.size() == static_cast<std::size_t>(n - 1));
  CHECK(d.size() == static_cast<std::size_t>(n));
  CHECK(copy.find(int64_t{5} << 20) == nullptr);
  CHECK(d.find(int64_t{5} << 20) != nullptr);
  CHECK(copy.at(int64_t{6} << 20).to_int() == -6);
  CHECK(copy.keys()[5] == Key(int64_t{6} << 20));
  copy[int64_t{5} << 20] = 5;  // re-inserted at the end
  CHECK(copy.keys().back() == Key(int64_t{5} << 20));
  CHECK(copy.setdefault(int64_t{5} << 20, 7).to_int() == 5);
  copy.append_unchecked(std::string("tail"), 1);
  CHECK(copy.at("tail").to_int() == 1);
  Dict moved = std::move(copy);
  CHECK(moved.at(int64_t{7} << 20).to_int() == -7);
  CHECK(moved.at("tail").to_int() == 1);
  // Shrinking back to a small dict keeps working (erasing the last item is O(1)).
  Dict small = d;
  for (int64_t k = n - 1; k >= 3; --k) {
    REQUIRE(small.erase(k << 20));
    if (k % 9973 == 0) REQUIRE(small.at((k - 1) << 20).to_int() == 1 - k);
  }
  CHECK(small.keys() == std::vector<Key>{int64_t{0}, int64_t{1} << 20, int64_t{2} << 20});
  CHECK(small.at(int64_t{2} << 20).to_int() == -2);
  small.set("x", 1);
  CHECK(small.at("x").to_int() == 1);

  // Random sets, erases and lookups around the index threshold, against a plain vector.
  std::mt19937_64 rng(13);
  Dict r;
  std::vector<std::pair<int64_t, int64_t>> model;
  for (int op = 0; op < 20000; ++op) {
    const int64_t key = static_cast<int64_t>(rng() % 48) << 32;
    auto it = std::find_if(model.begin(), model.end(), [&](const auto& kv) { return kv.first == key; });
    if (rng() % 3 == 0) {
      REQUIRE(r.erase(key) == (it != model.end()));
      if (it != model.end()) model.erase(it);
    } else {
      r.set(key, op);
      if (it != model.end()) it->second = op;
      else model.emplace_back(key, op);
    }
    if (op % 97 == 0) r = Dict(r);  // copies carry a consistent index
    REQUIRE(r.size() == model.size());
    for (int64_t probe = 0; probe < 48; ++probe) {
      const Value* v = r.find(probe << 32);
      auto m = std::find_if(model.begin(), model.end(), [&](const auto& kv) { return kv.first == probe << 32; });
      REQUIRE((v == nullptr) == (m == model.end()));
      if (v) REQUIRE(v->to_int() == m->second);
    }
  }
  std::size_t pos = 0;
  for (const auto& [key, value] : r) {
    REQUIRE(key == Key(model[pos].first));
    ++pos;
  }

  // String keys.
  Dict s;
  for (int k = 0; k < 1000; ++k) s.set("key" + std::to_string(k), k);
  for (int k = 0; k < 1000; ++k) REQUIRE(s.at("key" + std::to_string(k)).to_int() == k);
  CHECK_THROWS_WITH_AS(s.at("key1000"), "KeyError: 'key1000' is not in the dict", KeyError);
  CHECK(Value(s) == Value(Dict(s)));
}

TEST_CASE("state_dict and load_state_dict of 100k params are linear") {
  constexpr int n = 100000;
  std::vector<Tensor> params;
  params.reserve(n);
  for (int i = 0; i < n; ++i) {
    params.push_back(ones({1}).requires_grad_());
    params.back().set_grad(ones({1}));
  }
  auto opt = optim::make_optimizer("SGD", Params(params), Dict{{"lr", 0.1}, {"momentum", 0.9}});
  opt->step();
  REQUIRE(opt->state().size() == static_cast<std::size_t>(n));
  const auto start = std::chrono::steady_clock::now();
  Dict sd = opt->state_dict();
  const double saved = seconds_since(start);
  opt->load_state_dict(sd);
  const double total = seconds_since(start);
  MESSAGE("state_dict of 100k params: ", saved, " s; load_state_dict: ", total - saved, " s");
  CHECK(total < 3.0);
  REQUIRE(sd.at("state").to_dict().size() == static_cast<std::size_t>(n));
  CHECK(opt->state().size() == static_cast<std::size_t>(n));
  CHECK(opt->state()[params[n - 1]].at("momentum_buffer").to_double() == 1.0);
  CHECK(sd.at("state").to_dict().keys().back() == Key(int64_t{n - 1}));
}

// C++ form of the Python test: deepcopy() keeps every public attribute —
// name, defaults, param groups (over copied params), state (keyed by the
// copies, tensors not shared), grad_scale/found_inf — and leaves out the
// hooks (optimizer-base.md §8). The copy then steps exactly as the original.
TEST_CASE("test_deepcopy_copies_all_public_attrs") {
  for (const OptimizerInfo& info : rows_for("test_deepcopy_copies_all_public_attrs"))
    for (const Dict& config : expanded_configs(info, kFloat32, {"differentiable"})) {
      INFO(info.name, " ", describe(config));
      const bool sparse = info.only_supports_sparse_grads;
      Quadratic q(3, 2, kFloat32, 21);
      auto opt = make(info, Params(params_for(info, {q.weight, q.bias})), config);
      step_n(
          info, *opt, [&] { return q.closure(*opt, sparse); }, 3);
      int hook_calls = 0;
      HandleGuard guard{{opt->register_step_post_hook([&](Optimizer&, const optim::StepArgs&) { ++hook_calls; })}};
      std::unique_ptr<Optimizer> copy = opt->deepcopy();

      CHECK(copy->name() == opt->name());
      CHECK(Value(copy->defaults()) == Value(opt->defaults()));
      REQUIRE(copy->param_groups().size() == opt->param_groups().size());
      for (std::size_t g = 0; g < opt->param_groups().size(); ++g) {
        const ParamGroup& a = opt->param_groups()[g];
        const ParamGroup& b = copy->param_groups()[g];
        CHECK(Value(b.options) == Value(a.options));
        CHECK(b.param_names == a.param_names);
        REQUIRE(b.params.size() == a.params.size());
        for (std::size_t i = 0; i < a.params.size(); ++i) {
          CHECK(b.params[i].unsafe_get_impl() != a.params[i].unsafe_get_impl());
          CHECK(b.params[i].requires_grad() == a.params[i].requires_grad());
          CHECK(equal(b.params[i].detach(), a.params[i].detach()));
          CHECK(b.params[i].grad().defined() == a.params[i].grad().defined());
        }
      }
      REQUIRE(copy->state().size() == opt->state().size());
      for (std::size_t i = 0; i < opt->state().size(); ++i) {
        const auto& [param, entry] = opt->state().entries()[i];
        const auto& [copied_param, copied_entry] = copy->state().entries()[i];
        CHECK(copied_param.unsafe_get_impl() != param.unsafe_get_impl());
        CHECK(Value(copied_entry) == Value(entry));
      }
      CHECK(Value(copy->state_dict()) == Value(opt->state_dict()));

      // The two now step independently and identically; only the original has the hook.
      std::vector<Tensor> copied = copy->param_groups()[0].params;
      Quadratic c = q;
      c.weight = copied[0];
      c.bias = copied.size() > 1 ? copied[1] : q.bias.detach().clone().requires_grad_();
      for (int i = 0; i < 3; ++i) {
        step_once(info, *opt, [&] { return q.closure(*opt, sparse); });
        step_once(info, *copy, [&] { return c.closure(*copy, sparse); });
        CHECK(equal(c.weight.detach(), q.weight.detach()));
      }
      CHECK(hook_calls == 3);
      CHECK(Value(copy->state_dict()) == Value(opt->state_dict()));
    }
}

TEST_CASE("deepcopy of an optimizer class that does not override it raises NotImplementedError") {
  struct Plain : Optimizer {
    explicit Plain(Params params) : Optimizer("Plain", Dict{{"lr", 0.1}}) { init_param_groups(std::move(params)); }
    void step_group(ParamGroup&) override {}
  };
  Plain plain(Params{randn({2}).requires_grad_()});
  CHECK_THROWS_WITH_AS(plain.deepcopy(), doctest::Contains("Plain: deepcopy() is not implemented"),
                       NotImplementedError);
}
