// What a PyTorch user writes in the first hour: chainable option setters,
// numbers read straight out of Values and Scalars, state dicts indexed like
// Python dicts.
#include <doctest/doctest.h>

#include <sstream>

#include "descent/descent.h"

using namespace descent;
using namespace descent::optim;

namespace {
template <class O>
concept has_momentum_setter = requires(Options<O> o) { o.momentum(0.9); };
template <class O>
concept has_betas_setter = requires(Options<O> o) { o.betas({0.9, 0.99}); };

// A setter for a field of another optimizer does not exist.
static_assert(has_momentum_setter<SGDOptions>);
static_assert(!has_momentum_setter<AdamOptions>);
static_assert(has_betas_setter<AdamWOptions>);
static_assert(!has_betas_setter<SGDOptions>);
// Every keyword of every optimizer has its setter.
template <class... O>
constexpr bool all_have_setters = (optim::detail::every_field_has_a_setter<O>() && ...);
static_assert(all_have_setters<AdadeltaOptions, AdafactorOptions, AdagradOptions, AdamOptions, AdamWOptions,
                               AdamaxOptions, ASGDOptions, LBFGSOptions, MuonOptions, NAdamOptions, RAdamOptions,
                               RMSpropOptions, RpropOptions, SGDOptions, SparseAdamOptions>);
// Numbers convert implicitly; other types do not.
static_assert(std::is_convertible_v<Value, double> && std::is_convertible_v<Value, int64_t> &&
              std::is_convertible_v<Value, bool> && std::is_convertible_v<Scalar, double>);
static_assert(!std::is_convertible_v<Value, std::string> && !std::is_convertible_v<Value, char>);
}  // namespace

TEST_SUITE("ergonomics") {
  TEST_CASE("Options<O> setters, in any order, equal the struct filled by hand") {
    Tensor w = zeros({2}).requires_grad_();
    AdamWOptions by_hand;
    by_hand.weight_decay = 0.05;
    by_hand.lr = 3e-3;
    by_hand.betas = {0.8, 0.9};
    by_hand.amsgrad = true;
    by_hand.foreach = false;
    AdamW a({w}, by_hand);
    AdamW b({w}, Options<AdamWOptions>().amsgrad(true).betas({0.8, 0.9}).lr(3e-3).foreach(false).weight_decay(0.05));
    CHECK(a.param_groups()[0].options == b.param_groups()[0].options);
    CHECK(b.param_groups()[0]["betas"].str() == "(0.8, 0.9)");

    SGD sgd({w}, Options<SGDOptions>().lr(0.1).momentum(0.9).nesterov(true));
    CHECK(sgd.param_groups()[0]["momentum"] == 0.9);
    CHECK(sgd.param_groups()[0]["nesterov"] == true);
    CHECK(sgd.param_groups()[0]["dampening"] == 0);
    // Starting from existing options.
    AdamOptions base;
    base.amsgrad = true;
    Adam adam({w}, Options<AdamOptions>(base).eps(1e-6));
    CHECK(adam.param_groups()[0]["eps"] == 1e-6);
    CHECK(adam.param_groups()[0]["amsgrad"] == true);
    // Invalid values are still rejected by the optimizer, as with the struct.
    CHECK_THROWS_WITH_AS(SGD({w}, Options<SGDOptions>().lr(-1.0)), doctest::Contains("Invalid learning rate: -1.0"),
                         ValueError);
  }

  TEST_CASE("Value converts to numbers as Python's float(), int(), bool()") {
    Tensor w = zeros({2}).requires_grad_();
    Adam opt({w}, Options<AdamOptions>().lr(0.25));
    ParamGroup& group = opt.param_groups()[0];
    double lr = group["lr"];
    float lr_f = group["lr"];
    bool amsgrad = group["amsgrad"];
    CHECK(lr == 0.25);
    CHECK(lr_f == 0.25f);
    CHECK(!amsgrad);
    CHECK(group["lr"] == 0.25);
    CHECK(group["lr"] != 0.5);
    CHECK(0.25 == group["lr"]);
    Value step = int64_t{7};
    int64_t s64 = step;
    int s32 = step;
    double sd = step;
    CHECK(s64 == 7);
    CHECK(s32 == 7);
    CHECK(sd == 7.0);
    Value one_element = tensor({1.5});
    double from_tensor = one_element;
    CHECK(from_tensor == 1.5);
    std::ostringstream printed;
    printed << group["lr"] << " " << group["betas"];
    CHECK(printed.str() == "0.25 (0.9, 0.999)");
    auto as_int = [](const Value& v) -> int64_t { return v; };
    auto as_bool = [](const Value& v) -> bool { return v; };
    auto as_u8 = [](const Value& v) -> uint8_t { return v; };
    CHECK_THROWS_WITH_AS(as_int(group["lr"]), "expected a value of type int but got float (0.25)", TypeError);
    CHECK_THROWS_WITH_AS(as_bool(group["lr"]), "expected a value of type bool but got float (0.25)", TypeError);
    CHECK_THROWS_WITH_AS(as_u8(Value(int64_t{300})), "Value: 300 does not fit the requested integer type", ValueError);
    CHECK_THROWS_AS(as_int(Value("text")), TypeError);
  }

  TEST_CASE("Scalar (loss.item()) converts to numbers") {
    Tensor loss = tensor({0.5}).sum();
    double l = loss.item();
    float lf = loss.item();
    CHECK(l == 0.5);
    CHECK(lf == 0.5f);
    int64_t n = arange(4).sum().item();
    CHECK(n == 6);
    bool b = Scalar(true);
    CHECK(b);
    auto as_int = [](const Scalar& s) -> int64_t { return s; };
    auto as_double = [](const Scalar& s) -> double { return s; };
    CHECK_THROWS_WITH_AS(as_int(loss.item()),
                         "Scalar: cannot convert the floating point number 0.5 to an integer implicitly "
                         "(to<int64_t>() truncates)",
                         TypeError);
    CHECK_THROWS_WITH_AS(as_double(Scalar(std::complex<double>(1, 2))),
                         "Scalar: cannot convert the complex number (1+2j) to a real number", TypeError);
    std::ostringstream printed;
    printed << loss.item();
    CHECK(printed.str() == "0.5");
  }

  TEST_CASE("state_dict indexing: int and string keys, KeyError naming the key") {
    Tensor w = tensor({1.0, 2.0}).requires_grad_();
    Adam opt({w}, Options<AdamOptions>().lr(0.1));
    w.set_grad(ones({2}, {.dtype = kFloat64}));
    opt.step();
    Dict sd = opt.state_dict();
    const Tensor& exp_avg = sd["state"][0]["exp_avg"].to_tensor();
    CHECK(allclose(exp_avg, full({2}, 0.1)));
    double step = sd["state"][0]["step"];
    CHECK(step == 1.0);
    double lr = sd["param_groups"][0]["lr"];
    CHECK(lr == 0.1);
    CHECK(sd["param_groups"][-1]["params"][0] == 0);
    const Value whole(sd);
    CHECK(whole["state"][0]["exp_avg"].is_tensor());
    CHECK_THROWS_WITH_AS(sd["state"][1], "KeyError: 1 is not in the dict", KeyError);
    CHECK_THROWS_WITH_AS(sd["state"][0]["exp_avg_sq_max"], "KeyError: 'exp_avg_sq_max' is not in the dict", KeyError);
    CHECK_THROWS_WITH_AS(whole["param_groups"][3], "list index out of range: 3 (size 1)", IndexError);
    CHECK_THROWS_WITH_AS(whole["param_groups"]["lr"],
                         "a list value cannot be indexed by 'lr' (only a dict by key, or a list by position)",
                         TypeError);
    // Assignment through [] changes an existing entry.
    sd["state"][0]["step"] = tensor({5.0}).sum();
    double changed = sd["state"][0]["step"];
    CHECK(changed == 5.0);
  }
}
