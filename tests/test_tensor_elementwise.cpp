// Elementwise ops, dtype conversions and type promotion against PyTorch
// (fixtures from scripts/fixtures/tensor_ops.py): every op of issue 2 per
// dtype, broadcasting, tensor-number and number-tensor forms, in-place forms,
// 0-dim and empty operands, NaN/inf/-0.0, float16/bfloat16 rounding, and every
// combination PyTorch rejects (descent must reject it too).
#include <doctest/doctest.h>

#include <limits>
#include <set>

#include "descent/descent.h"
#include "tensor_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

// descent follows PyTorch's CPU kernels op for op, so results are compared
// bit for bit, except:
// - exp/log/pow: PyTorch vectorises them with SLEEF (1 ulp), descent calls the
//   C library: an ulp or two of the computation type, one ulp of
//   float16/bfloat16 after rounding;
// - complex division, reciprocal, sqrt, rsqrt, abs and addcdiv: PyTorch's
//   vectorised complex division starts from an approximate reciprocal and its
//   abs/sqrt use other formulas;
// - complex and float16/bfloat16 cases that PyTorch computes in its scalar
//   loop (broadcast or short operands, config vec absent): that loop
//   contracts complex products into FMAs and rounds float16/bfloat16
//   intermediates (alpha * b, sqrt before 1/x), while descent, like
//   PyTorch's vectorised loop, rounds once. Cases with vec=1 run PyTorch's
//   vectorised loop only and must match exactly;
// - complex lerp: PyTorch has no vectorised complex lerp; its scalar loop
//   runs even for vec=1 cases, with the compiler's contractions;
// - the sign of a complex zero from neg: PyTorch's vectorised complex neg is
//   0 - x (+0), its scalar one -x (-0).
Tolerance approximate(Dtype dtype) {
  switch (dtype) {
    case kFloat16: return {1e-3, 1e-3};
    case kBFloat16: return {8e-3, 8e-3};
    case kFloat32: return {5e-7, 1e-30};
    case kComplex64: return {1e-6, 1e-6};
    case kComplex128: return {1e-14, 1e-14};
    default: return {5e-15, 1e-300};
  }
}

Tolerance tolerance(const std::string& op, Dtype dtype, const FixtureCase& c) {
  static const std::set<std::string> libm{"exp", "log", "pow", "rpow"};
  static const std::set<std::string> complex_formulas{"div", "rdiv", "reciprocal", "sqrt", "rsqrt", "abs", "addcdiv"};
  bool vec = config_int(c, "vec") != 0 && !(op == "lerp" && is_complex(dtype));
  bool reduced = dtype == kFloat16 || dtype == kBFloat16;
  Tolerance tol;
  if (libm.count(op) || (is_complex(dtype) && complex_formulas.count(op)) || (!vec && (reduced || is_complex(dtype))))
    tol = approximate(dtype);
  tol.signed_zero = !(is_complex(dtype) && op == "neg");
  return tol;
}

template <class B>
Tensor binary(const std::string& op, const Tensor& a, const B& b, const FixtureCase& c) {
  constexpr bool tensor_b = std::is_same_v<B, Tensor>;
  if (op == "add") return has_number(c, "alpha") ? a.add(b, number(c, "alpha")) : a.add(b);
  if (op == "sub") return has_number(c, "alpha") ? a.sub(b, number(c, "alpha")) : a.sub(b);
  if (op == "mul") return a.mul(b);
  if (op == "div") return a.div(b);
  if (op == "pow") return a.pow(b);
  if (op == "eq") return a.eq(b);
  if (op == "ne") return a.ne(b);
  if (op == "lt") return a.lt(b);
  if (op == "le") return a.le(b);
  if (op == "gt") return a.gt(b);
  if (op == "ge") return a.ge(b);
  if constexpr (tensor_b) {
    if (op == "maximum") return maximum(a, b);
    if (op == "minimum") return minimum(a, b);
  } else {
    // torch.maximum(t, number) is a TypeError; descent has no such overload at all.
    if (op == "maximum" || op == "minimum") raise<TypeError>(op, ": no overload for a number operand");
  }
  FAIL("no binary op ", op);
  return {};
}

// The free-function spelling (torch.add(a, b)) of the tensor-tensor ops.
Tensor binary_free(const std::string& op, const Tensor& a, const Tensor& b, const FixtureCase& c) {
  if (op == "add") return has_number(c, "alpha") ? add(a, b, number(c, "alpha")) : add(a, b);
  if (op == "sub") return has_number(c, "alpha") ? sub(a, b, number(c, "alpha")) : sub(a, b);
  if (op == "mul") return mul(a, b);
  if (op == "div") return div(a, b);
  if (op == "pow") return pow(a, b);
  if (op == "eq") return eq(a, b);
  if (op == "ne") return ne(a, b);
  if (op == "lt") return lt(a, b);
  if (op == "le") return le(a, b);
  if (op == "gt") return gt(a, b);
  if (op == "ge") return ge(a, b);
  return binary(op, a, b, c);
}

template <class B>
Tensor& binary_(const std::string& op, Tensor& a, const B& b, const FixtureCase& c) {
  if (op == "add") return has_number(c, "alpha") ? a.add_(b, number(c, "alpha")) : a.add_(b);
  if (op == "sub") return has_number(c, "alpha") ? a.sub_(b, number(c, "alpha")) : a.sub_(b);
  if (op == "mul") return a.mul_(b);
  if (op == "div") return a.div_(b);
  if (op == "pow") return a.pow_(b);
  FAIL("no in-place op ", op);
  return a;
}

Tensor unary(const std::string& op, const Tensor& a) {
  if (op == "neg") return neg(a);
  if (op == "abs") return abs(a);
  if (op == "sign") return sign(a);
  if (op == "sqrt") return sqrt(a);
  if (op == "rsqrt") return rsqrt(a);
  if (op == "exp") return exp(a);
  if (op == "log") return log(a);
  if (op == "reciprocal") return reciprocal(a);
  if (op == "isfinite") return isfinite(a);
  if (op == "isnan") return isnan(a);
  FAIL("no unary op ", op);
  return {};
}

Tensor& unary_(const std::string& op, Tensor& a) {
  if (op == "neg") return a.neg_();
  if (op == "abs") return a.abs_();
  if (op == "sign") return a.sign_();
  if (op == "sqrt") return a.sqrt_();
  if (op == "rsqrt") return a.rsqrt_();
  if (op == "exp") return a.exp_();
  if (op == "log") return a.log_();
  if (op == "reciprocal") return a.reciprocal_();
  FAIL("no in-place unary op ", op);
  return a;
}

std::optional<Scalar> optional_number(const FixtureCase& c, const std::string& key) {
  return has_number(c, key) ? std::optional<Scalar>(number(c, key)) : std::nullopt;
}
std::optional<Tensor> optional_tensor(const FixtureCase& c, const std::string& key) {
  return c.has(key) ? std::optional<Tensor>(c.tensor(key)) : std::nullopt;
}

// Runs an in-place form and checks that it returns (a reference to) self and bumps its version.
template <class Fn>
Tensor in_place(Tensor a, Fn&& fn) {
  int64_t version = a._version();
  Tensor& r = fn(a);
  CHECK(r.is_same(a));
  CHECK(a._version() > version);
  return a;
}

// Runs one elementwise fixture case the way its `form` says.
Tensor run(const FixtureCase& c) {
  const std::string op = config(c, "op"), form = config(c, "form");
  Tensor a = c.has("a") ? c.tensor("a").clone() : Tensor();
  if (form == "tt") {
    Tensor r = binary_free(op, a, c.tensor("b"), c);
    // The method spelling must agree bit for bit.
    CHECK_MESSAGE(mismatch(binary(op, a, c.tensor("b"), c), r).empty(), c.name);
    return r;
  }
  if (form == "ts") return binary(op, a, number(c, "s"), c);
  if (form == "inplace") return in_place(a, [&](Tensor& t) -> Tensor& { return binary_(op, t, c.tensor("b"), c); });
  if (form == "inplace_s") return in_place(a, [&](Tensor& t) -> Tensor& { return binary_(op, t, number(c, "s"), c); });
  if (form == "st") {
    Scalar s = number(c, "s");
    if (op == "rsub") return s - a;
    if (op == "rdiv") return s / a;
    if (op == "rpow") return pow(s, a);
  }
  if (form == "unary") return unary(op, a);
  if (form == "unary_inplace") return in_place(a, [&](Tensor& t) -> Tensor& { return unary_(op, t); });
  if (form == "where") return where(c.tensor("cond"), a, c.tensor("b"));
  if (form == "where_ts") return where(c.tensor("cond"), a, number(c, "s"));
  if (form == "where_st") return where(c.tensor("cond"), number(c, "s"), c.tensor("b"));
  if (form == "clamp") return clamp(a, optional_number(c, "lo"), optional_number(c, "hi"));
  if (form == "clamp_inplace")
    return in_place(a, [&](Tensor& t) -> Tensor& { return t.clamp_(optional_number(c, "lo"), optional_number(c, "hi")); });
  if (form == "clamp_tensor") return a.clamp(optional_tensor(c, "lo"), optional_tensor(c, "hi"));
  if (form == "lerp") return lerp(a, c.tensor("b"), number(c, "s"));
  if (form == "lerp_tensor") return lerp(a, c.tensor("b"), c.tensor("w"));
  if (form == "lerp_inplace") return in_place(a, [&](Tensor& t) -> Tensor& { return t.lerp_(c.tensor("b"), number(c, "s")); });
  if (form == "lerp_tensor_inplace")
    return in_place(a, [&](Tensor& t) -> Tensor& { return t.lerp_(c.tensor("b"), c.tensor("w")); });
  if (form == "addc") {
    if (op == "addcmul") return addcmul(a, c.tensor("b"), c.tensor("c"), number(c, "s"));
    return addcdiv(a, c.tensor("b"), c.tensor("c"), number(c, "s"));
  }
  if (form == "addc_inplace") {
    return in_place(a, [&](Tensor& t) -> Tensor& {
      if (op == "addcmul") return t.addcmul_(c.tensor("b"), c.tensor("c"), number(c, "s"));
      return t.addcdiv_(c.tensor("b"), c.tensor("c"), number(c, "s"));
    });
  }
  FAIL("unknown form ", form, " in ", c.name);
  return {};
}

const std::vector<FixtureCase>& elementwise_cases() {
  static const std::vector<FixtureCase> cases = load_fixture("tensor/elementwise.txt");
  return cases;
}

void check_cases(const std::string& prefix) {
  int checked = 0;
  for (const FixtureCase& c : elementwise_cases()) {
    if (c.name.rfind(prefix, 0) != 0) continue;
    ++checked;
    std::string error = config(c, "error");
    if (!error.empty()) {
      // PyTorch refuses this combination; descent must raise one of its errors, never compute something.
      bool unsupported_dtype = error.rfind("unsupported:", 0) == 0;
      try {
        Tensor r = run(c);
        FAIL_CHECK(c.name, ": PyTorch raises ", error, " but descent returned ", r.repr());
      } catch (const descent::TypeError&) {
      } catch (const descent::Error& e) {
        if (unsupported_dtype) FAIL_CHECK(c.name, ": expected a TypeError, got ", std::string(e.what()));
      }
      continue;
    }
    const Tensor& expected = c.tensor("out");
    const Tolerance tol = tolerance(config(c, "op"), expected.dtype(), c);
    Tensor out;
    try {
      out = run(c);
    } catch (const std::exception& e) {
      FAIL_CHECK(c.name, " threw: ", std::string(e.what()));
      continue;
    }
    std::string m = mismatch(out, expected, tol);
    if (!m.empty()) FAIL_CHECK(c.name, ": ", m);
  }
  CHECK(checked > 0);
}

}  // namespace

TEST_CASE("arithmetic: add, sub (alpha), mul, div, pow and Python's reflected operators") {
  for (std::string op : {"add/", "sub/", "mul/", "div/", "pow/", "rsub/", "rdiv/", "rpow/"}) {
    CAPTURE(op);
    check_cases(op);
  }
}

TEST_CASE("maximum, minimum and comparisons, NaN included") {
  for (std::string op : {"maximum/", "minimum/", "eq/", "ne/", "lt/", "le/", "gt/", "ge/"}) {
    CAPTURE(op);
    check_cases(op);
  }
}

TEST_CASE("unary ops, isfinite and isnan") {
  for (std::string op : {"neg/", "abs/", "sign/", "sqrt/", "rsqrt/", "exp/", "log/", "reciprocal/", "isfinite/", "isnan/"}) {
    CAPTURE(op);
    check_cases(op);
  }
}

TEST_CASE("where and clamp") {
  check_cases("where/");
  check_cases("clamp/");
}

TEST_CASE("lerp, addcmul and addcdiv match PyTorch bit for bit") {
  check_cases("lerp/");
  check_cases("addcmul/");
  check_cases("addcdiv/");
}

TEST_CASE("operators are the functions") {
  Tensor a = tensor<float>({1.5f, -2.0f, 3.25f}), b = tensor<float>({0.5f, 4.0f, -1.0f});
  CHECK(equal(a + b, add(a, b)));
  CHECK(equal(a - b, sub(a, b)));
  CHECK(equal(a * b, mul(a, b)));
  CHECK(equal(a / b, div(a, b)));
  CHECK(equal(-a, neg(a)));
  CHECK(equal(a + 2, add(a, 2)));
  CHECK(equal(2 + a, add(a, 2)));
  CHECK(equal(a * 0.5, mul(a, 0.5)));
  CHECK(equal(0.5 * a, mul(a, 0.5)));
  CHECK(equal(a / 4, div(a, 4)));
  CHECK(equal(a - 1, sub(a, 1)));
  Tensor c = a.clone();
  c += b;
  CHECK(equal(c, a + b));
  c -= b;
  c *= 2;
  c /= 2;
  CHECK(equal(c, a));
  c += 1.0;
  c -= 1.0;
  c *= 3;
  c /= 3;
  CHECK(allclose(c, a));
}

TEST_CASE("dtype conversions and float16/bfloat16 rounding") {
  int checked = 0;
  for (const FixtureCase& c : load_fixture("tensor/casts.txt")) {
    Dtype to = parse_dtype(config(c, "to"));
    const Tensor& a = c.tensor("a");
    Tensor out = a.to(to);
    std::string m = mismatch(out, c.tensor("out"));
    CHECK_MESSAGE(m.empty(), c.name, ": ", m);
    // The Tensor constructor from host values rounds the same way.
    if (a.dtype() == kFloat64 && (to == kFloat16 || to == kBFloat16)) {
      Tensor viaFactory = tensor(a.to_vector<double>(), a.sizes(), {.dtype = to});
      CHECK_MESSAGE(mismatch(viaFactory, c.tensor("out")).empty(), c.name);
    }
    ++checked;
  }
  CHECK(checked > 50);
}

TEST_CASE("type promotion: result_type of every dtype pair and of tensors with numbers") {
  int checked = 0;
  for (const FixtureCase& c : load_fixture("tensor/promotion.txt")) {
    Dtype a = parse_dtype(config(c, "a"));
    Tensor ta = zeros(Shape(static_cast<std::size_t>(config_int(c, "a_dim")), 2), {.dtype = a});
    std::string expected = config(c, "result");
    auto check = [&](auto&& compute) {
      if (expected.rfind("error:", 0) == 0 || expected.rfind("unsupported:", 0) == 0) {
        CHECK_THROWS_AS_MESSAGE(compute(), descent::TypeError, c.name);
      } else {
        Dtype got = compute();
        CHECK_MESSAGE(got == parse_dtype(expected), c.name, ": got ", to_string(got), ", expected ", expected);
      }
    };
    if (has_config(c, "b")) {
      Dtype b = parse_dtype(config(c, "b"));
      Tensor tb = zeros(Shape(static_cast<std::size_t>(config_int(c, "b_dim")), 2), {.dtype = b});
      check([&] { return result_type(ta, tb); });
      CHECK(promote_types(a, b) == parse_dtype(config(c, "promote_types")));
    } else {
      check([&] { return result_type(ta, number(c, "s")); });
    }
    ++checked;
  }
  CHECK(checked == 8 * 8 * 4 + 8 * 4 * 2);
}

TEST_CASE("default dtype drives float numbers, int/bool factories and integer-to-float ops") {
  Tensor i = tensor<int64_t>({1, 4});
  CHECK(sqrt(i).dtype() == kFloat32);
  CHECK((i * 0.5).dtype() == kFloat32);
  CHECK(result_type(i, Scalar(2.5)) == kFloat32);
  DefaultDtypeGuard guard;
  set_default_dtype(kFloat64);
  CHECK(sqrt(i).dtype() == kFloat64);
  CHECK((i * 0.5).dtype() == kFloat64);
  CHECK(result_type(i, Scalar(std::complex<double>(1, 1))) == kComplex128);
  CHECK(zeros({2}).dtype() == kFloat64);
  CHECK(arange(0.0, 1.0, 0.5).dtype() == kFloat64);
  // A float32 tensor is not widened by float numbers, whatever the default.
  CHECK((ones({2}, {.dtype = kFloat32}) * 0.5).dtype() == kFloat32);
  set_default_dtype(kFloat32);
  CHECK_THROWS_WITH_AS(set_default_dtype(kInt64), doctest::Contains("only floating-point types"), descent::TypeError);
}

TEST_CASE("int64 arithmetic wraps around on overflow, as PyTorch's does") {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  const Tensor big = tensor<int64_t>({kMax, kMin});
  CHECK(big.add(1).to_vector<int64_t>() == std::vector<int64_t>{kMin, kMin + 1});
  CHECK(big.sub(1).to_vector<int64_t>() == std::vector<int64_t>{kMax - 1, kMax});
  CHECK(big.add(big, 2).to_vector<int64_t>() == std::vector<int64_t>{kMax - 2, kMin});
  CHECK(big.mul(2).to_vector<int64_t>() == std::vector<int64_t>{-2, 0});
  CHECK(tensor<int64_t>({kMax, 3}).prod().item<int64_t>() == kMax - 2);
  CHECK(tensor<int64_t>({kMax, 1}).sum().item<int64_t>() == kMin);
}
