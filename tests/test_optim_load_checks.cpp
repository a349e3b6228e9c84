// load_state_dict treats the state dict as untrusted: the group options go
// through the constructor's validation and each param's state is checked
// against what the optimizer declares (keys, shapes, dtypes, defined
// tensors) before anything changes. And the careless inputs of ordinary use
// that a step catches: a param listed twice, an lr float32 cannot hold.
#include <doctest/doctest.h>

#include "descent/descent.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

// An optimizer of `name` over one float32 param of `shape` that has taken a step.
struct Stepped {
  Tensor param;
  std::unique_ptr<Optimizer> opt;
  Stepped(const std::string& name, const Shape& shape, const Dict& kwargs = {})
      : param(randn(shape).requires_grad_()) {
    opt = make_optimizer(name, Params{param}, kwargs);
    param.set_grad(randn(shape));
    opt->step();
  }
};

Dict& group0(Dict& sd) { return sd.at("param_groups").to_list().items[0].to_dict(); }
Dict& state0(Dict& sd) { return sd.at("state").to_dict().at(int64_t{0}).to_dict(); }

// Loading `sd` into `s.opt` raises E with `message`, and leaves the optimizer
// exactly as it was: its state dict and its param unchanged, bit for bit.
template <class E>
void check_rejected(Stepped& s, const Dict& sd, const std::string& message) {
  const Dict before = deepcopy(s.opt->state_dict()).to_dict();
  const Tensor param_before = s.param.detach().clone();
  CHECK_THROWS_WITH_AS(s.opt->load_state_dict(sd), doctest::Contains(message.c_str()), E);
  CHECK(Value(s.opt->state_dict()) == Value(before));
  CHECK(equal(s.param.detach(), param_before));
}

}  // namespace

TEST_CASE("load_state_dict: a state dict of another optimizer is rejected, naming the missing option") {
  Stepped sgd("SGD", {4}, Dict{{"momentum", 0.9}});
  Stepped adam("Adam", {4});
  check_rejected<ValueError>(adam, sgd.opt->state_dict(), "Adam.load_state_dict: param_groups[0]: the option 'betas' is missing");
  // The other way round: Adam's group has no momentum.
  check_rejected<ValueError>(sgd, adam.opt->state_dict(), "SGD.load_state_dict: param_groups[0]: the option 'momentum' is missing");
}

TEST_CASE("load_state_dict: group options go through the constructor's validation") {
  Stepped adam("Adam", {4});
  Dict sd = adam.opt->state_dict();
  group0(sd).set("lr", -1.0);
  check_rejected<ValueError>(adam, sd, "param_groups[0]: Adam: Invalid learning rate: -1");
  sd = adam.opt->state_dict();
  group0(sd).set("betas", Value::tuple({1.5, 0.999}));
  check_rejected<ValueError>(adam, sd, "Invalid beta parameter at index 0: 1.5");
  sd = adam.opt->state_dict();
  group0(sd).set("amsgrad", Value("yes"));
  check_rejected<TypeError>(adam, sd, "argument 'amsgrad' must be bool");
  for (std::string name : {"RMSprop", "Adagrad", "Rprop", "ASGD", "NAdam", "RAdam", "Adamax", "Adadelta"}) {
    INFO(name);
    Stepped s(name, {3});
    Dict bad = s.opt->state_dict();
    group0(bad).set("lr", -0.5);
    check_rejected<ValueError>(s, bad, "Invalid learning rate");
  }
}

TEST_CASE("load_state_dict: state that does not fit its parameter is rejected before anything changes") {
  Stepped ten("Adam", {10});
  Stepped seven("Adam", {7});
  check_rejected<ValueError>(seven, ten.opt->state_dict(), "the state 'exp_avg' has shape [10] but the parameter has shape [7]");

  Dict sd = seven.opt->state_dict();
  state0(sd).set("exp_avg", Value("oops"));
  check_rejected<TypeError>(seven, sd, "parameter 0: the state 'exp_avg' must be a tensor, got str");

  sd = seven.opt->state_dict();
  state0(sd).set("exp_avg_sq", complex(zeros({7}), zeros({7})));
  check_rejected<ValueError>(seven, sd, "is complex, but its parameter is real");

  sd = seven.opt->state_dict();
  state0(sd).erase("step");
  check_rejected<ValueError>(seven, sd, "the state 'step' is missing");

  sd = seven.opt->state_dict();
  state0(sd).set("step", full({}, -3.0));
  check_rejected<ValueError>(seven, sd, "a step count must be finite and not negative");

  sd = seven.opt->state_dict();
  state0(sd).set("exp_avg", Tensor());
  check_rejected<ValueError>(seven, sd, "the state 'exp_avg' is an undefined tensor");

  sd = seven.opt->state_dict();
  state0(sd).set("exp_avg", zeros({7}, {.dtype = kInt64}));
  check_rejected<TypeError>(seven, sd, "must be a floating-point tensor, got torch.int64");

  // amsgrad needs max_exp_avg_sq: a state saved without it does not fit.
  sd = seven.opt->state_dict();
  group0(sd).set("amsgrad", true);
  check_rejected<ValueError>(seven, sd, "the state 'max_exp_avg_sq' is missing");
}

// Adafactor's factored moments have shapes of their own (Rows, Columns),
// checked as the declaration gives them for each param's dims.
TEST_CASE("load_state_dict: Adafactor's factored state must have the shapes its param's dims call for") {
  Stepped matrix("Adafactor", {3, 4});
  Dict sd = matrix.opt->state_dict();
  state0(sd).set("row_var", zeros({3, 4}));
  check_rejected<ValueError>(matrix, sd,
                             "Adafactor.load_state_dict: param_groups[0], parameter 0: the state 'row_var' has shape "
                             "[3, 4] but the parameter has shape [3, 4], which needs [3, 1] (state must match its "
                             "parameter)");
  sd = matrix.opt->state_dict();
  state0(sd).set("col_var", zeros({3, 1}));
  check_rejected<ValueError>(matrix, sd, "the state 'col_var' has shape [3, 1] but the parameter has shape [3, 4], "
                                         "which needs [1, 4]");
  sd = matrix.opt->state_dict();
  state0(sd).erase("col_var");
  check_rejected<ValueError>(matrix, sd, "parameter 0: the state 'col_var' is missing");

  // A vector's state (variance) does not fit a matrix, nor the other way round.
  Stepped vector("Adafactor", {12});
  check_rejected<ValueError>(matrix, vector.opt->state_dict(), "the state 'row_var' is missing");
  check_rejected<ValueError>(vector, matrix.opt->state_dict(), "the state 'variance' is missing");
  sd = vector.opt->state_dict();
  state0(sd).set("variance", zeros({3, 4}));
  check_rejected<ValueError>(vector, sd, "the state 'variance' has shape [3, 4] but the parameter has shape [12] "
                                         "(state must match its parameter)");
  CHECK_NOTHROW(matrix.opt->load_state_dict(matrix.opt->state_dict()));
}

TEST_CASE("load_state_dict: state ids that no group lists are rejected") {
  Stepped adam("Adam", {4});
  Dict sd = adam.opt->state_dict();
  Dict& state = sd.at("state").to_dict();
  Value moved = state.at(int64_t{0});
  state.erase(int64_t{0});
  state.set(int64_t{5}, moved);
  check_rejected<ValueError>(adam, sd, "state has an entry for parameter id 5, but no param group lists that id");
}

TEST_CASE("load_state_dict: SGD's momentum buffer may be absent or None; a good state dict still loads") {
  Stepped sgd("SGD", {4}, Dict{{"momentum", 0.9}});
  Dict sd = sgd.opt->state_dict();
  state0(sd).set("momentum_buffer", Value());
  CHECK_NOTHROW(sgd.opt->load_state_dict(sd));
  // None restarts the buffer from the next grad, as PyTorch's first step does.
  Tensor p = sgd.param.detach().clone();
  sgd.param.set_grad(ones({4}));
  sgd.opt->step();
  CHECK(equal(sgd.param.detach(), p - 1e-3));
  for (const std::string& name : optim::optimizer_names()) {
    INFO(name);
    if (name == "LBFGS" || name == "SparseAdam" || name == "Muon") continue;  // closures, sparse grads, 2-D params
    Stepped s(name, {3});
    CHECK_NOTHROW(s.opt->load_state_dict(s.opt->state_dict()));
  }
}

TEST_CASE("a param listed twice in a group is updated once per step (after the constructor's warning)") {
  for (std::string name : {"SGD", "Adam", "RMSprop"})
    for (const char* impl : {"foreach", "fused", ""}) {
      INFO(name, " ", impl);
      Tensor p = ones({3}).requires_grad_(), q = ones({3}).requires_grad_();
      Dict kwargs;
      if (*impl) kwargs.set(impl, true);
      auto twice = make_optimizer(name, Params{p, p}, kwargs);
      auto once = make_optimizer(name, Params{q}, kwargs);
      for (int step = 0; step < 3; ++step) {
        p.set_grad(full({3}, 0.5));
        q.set_grad(full({3}, 0.5));
        twice->step();
        once->step();
      }
      CHECK(equal(p.detach(), q.detach()));
    }
}

TEST_CASE("an lr that float32 cannot hold raises for float32 params, before anything changes") {
  for (std::string name : {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"})
    for (const char* impl : {"foreach", "fused", ""}) {
      INFO(name, " ", impl);
      Tensor p = ones({3}).requires_grad_();
      Dict kwargs{{"lr", 1e39}};
      if (*impl) kwargs.set(impl, true);
      auto opt = make_optimizer(name, Params{p}, kwargs);
      p.set_grad(ones({3}));
      const Dict before = deepcopy(opt->state_dict()).to_dict();
      CHECK_THROWS_WITH_AS(opt->step(), doctest::Contains("value cannot be converted to type float without overflow"),
                           RuntimeError);
      CHECK(equal(p.detach(), ones({3})));
      CHECK(Value(opt->state_dict()) == Value(before));
      // float64 params hold it.
      Tensor d = ones({3}, {.dtype = kFloat64}).requires_grad_();
      auto wide = make_optimizer(name, Params{d}, kwargs);
      d.set_grad(ones({3}, {.dtype = kFloat64}));
      CHECK_NOTHROW(wide->step());
    }
}

TEST_CASE("a param group key that nearly spells an option is a typo: ValueError; other keys are kept") {
  Tensor p = randn({3}).requires_grad_(), q = randn({3}).requires_grad_();
  CHECK_THROWS_WITH_AS(
      optim::SGD(Params{ParamGroup({p}, Dict{{"momentun", 0.9}})}),
      doctest::Contains("SGD: param group key 'momentun' is not an option (did you mean 'momentum'? its options: lr, "),
      ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam(Params{ParamGroup({p}, Dict{{"Betas", Value::tuple({0.8, 0.9})}})}),
                       doctest::Contains("did you mean 'betas'?"), ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam(Params{ParamGroup({p}, Dict{{"weight_decy", 0.1}})}),
                       doctest::Contains("did you mean 'weight_decay'?"), ValueError);
  // A tag of the user's own, and the keys schedulers add, are kept as PyTorch keeps them.
  optim::Adam adam(Params{ParamGroup({p}, Dict{{"name", "encoder"}, {"initial_lr", 0.01}})});
  CHECK(adam.param_groups()[0].at("name") == Value("encoder"));
  CHECK_NOTHROW(adam.add_param_group(ParamGroup({q}, Dict{{"swa_lr", 0.05}, {"max_lr", 0.1}})));
  CHECK(Value(adam.state_dict()).to_dict().at("param_groups").to_list().items[1].to_dict().at("swa_lr") == Value(0.05));
}
