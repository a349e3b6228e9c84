// The devices/ layer on its own: dtypes and promotion, device strings, and
// every CPU kernel called through backend_for(kCPU) on raw buffers, against
// PyTorch's values (tests/fixtures/devices_values.h) or a plain reference.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <complex>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "descent/devices/backend.h"
#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices_testing.h"
#include "fixtures/devices_values.h"

using namespace descent;
using namespace descent::testing;
namespace fx = devices_values;

namespace {

constexpr Dtype kAll[] = {kBool, kInt64, kFloat16, kBFloat16, kFloat32, kFloat64, kComplex64, kComplex128};

template <class T>
std::vector<T> binary(BinaryOp op, const std::vector<T>& a, const std::vector<T>& b, c128 s0 = 0.0) {
  std::vector<T> out(a.size());
  auto args = launch({static_cast<int64_t>(a.size())}, {tensor_in(a.data(), dtype_of<T>::value),
                                                       tensor_in(b.data(), dtype_of<T>::value)},
                     out.data(), dtype_of<T>::value);
  args.scalars[0] = s0;
  cpu().elementwise(op, args);
  return out;
}

// Bool results as ints: std::vector<bool> has no buffer to write into.
template <class T>
std::vector<int> predicate(UnaryOp op, const std::vector<T>& in) {
  std::vector<unsigned char> out(in.size());
  cpu().unary(op, dtype_of<T>::value, in.data(), out.data(), kBool, static_cast<int64_t>(in.size()));
  return {out.begin(), out.end()};
}

template <class T, class R = T>
std::vector<R> unary(UnaryOp op, const std::vector<T>& in) {
  std::vector<R> out(in.size());
  cpu().unary(op, dtype_of<T>::value, in.data(), out.data(), dtype_of<R>::value, static_cast<int64_t>(in.size()));
  return out;
}

bool same_bits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b) || (a != a && b != b); }

// Fixture values are exact in their dtype; float16/bfloat16 convert through float.
template <class T>
std::vector<T> from_doubles(const double* v, std::size_t n) {
  std::vector<T> out;
  for (std::size_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, double>) out.push_back(v[i]);
    else out.push_back(static_cast<T>(static_cast<float>(v[i])));
  }
  return out;
}

template <class T>
std::vector<double> to_doubles(const std::vector<T>& v) {
  std::vector<double> out;
  for (const T& x : v) {
    if constexpr (std::is_same_v<T, double>) out.push_back(x);
    else out.push_back(static_cast<float>(x));
  }
  return out;
}

}  // namespace

TEST_CASE("dtype names, sizes and categories") {
  const char* names[] = {"bool", "int64", "float16", "bfloat16", "float32", "float64", "complex64", "complex128"};
  const std::size_t sizes[] = {1, 8, 2, 2, 4, 8, 8, 16};
  for (int i = 0; i < kNumDtypes; ++i) {
    CHECK(short_name(kAll[i]) == names[i]);
    CHECK(to_string(kAll[i]) == std::string("torch.") + names[i]);
    CHECK(element_size(kAll[i]) == sizes[i]);
  }
  CHECK(is_floating_point(kBFloat16));
  CHECK_FALSE(is_floating_point(kComplex64));
  CHECK(is_complex(kComplex128));
  CHECK(is_integral(kBool, true));
  CHECK_FALSE(is_integral(kBool, false));
  CHECK(is_integral(kInt64, false));
  CHECK(to_real_dtype(kComplex64) == kFloat32);
  CHECK(to_real_dtype(kFloat16) == kFloat16);
  CHECK(to_complex_dtype(kFloat64) == kComplex128);
  CHECK(to_complex_dtype(kComplex64) == kComplex64);
  CHECK_THROWS_WITH_AS(to_complex_dtype(kFloat16), doctest::Contains("torch.float16 has no complex counterpart"),
                       TypeError);
  CHECK(category(kBool) == DtypeCategory::Bool);
  CHECK(category(kInt64) == DtypeCategory::Integral);
  CHECK(category(kBFloat16) == DtypeCategory::Floating);
  CHECK(category(kComplex64) == DtypeCategory::Complex);
}

TEST_CASE("promote_types matches torch.promote_types") {
  for (int a = 0; a < kNumDtypes; ++a) {
    for (int b = 0; b < kNumDtypes; ++b) {
      INFO(to_string(kAll[a]), " + ", to_string(kAll[b]));
      CHECK(promote_types(kAll[a], kAll[b]) == kAll[fx::kPromote[a][b]]);
    }
  }
}

TEST_CASE("default dtype") {
  CHECK(get_default_dtype() == kFloat32);
  set_default_dtype(kFloat64);
  CHECK(get_default_dtype() == kFloat64);
  CHECK_THROWS_WITH_AS(set_default_dtype(kInt64), doctest::Contains("only floating-point types"), TypeError);
  CHECK_THROWS_WITH_AS(set_default_dtype(kComplex64), doctest::Contains("torch.complex64"), TypeError);
  CHECK(get_default_dtype() == kFloat64);
  set_default_dtype(kFloat32);
}

TEST_CASE("device strings") {
  CHECK(Device("cpu") == Device(kCPU));
  CHECK(Device("cpu:0") == Device(kCPU));
  CHECK(Device("cuda") == Device(kCUDA, 0));
  CHECK(Device("cuda:3") == Device(kCUDA, 3));
  CHECK(Device("cuda:12").index == 12);
  CHECK(Device(kCUDA, 1).str() == "cuda:1");
  CHECK(Device("cpu").str() == "cpu");
  for (const char* bad : {"gpu:x", "", "cuda:", "cuda:-1", "cuda:01", "CUDA", "cuda:1:2", "cuda: 1", "cpu:1"}) {
    INFO(bad);
    CHECK_THROWS_WITH_AS(Device(std::string(bad)), doctest::Contains((std::string("'") + bad + "'").c_str()), ValueError);
  }
  CHECK_THROWS_WITH_AS(Device("gpu:x"), doctest::Contains("expected 'cpu', 'cuda' or 'cuda:<index>'"), ValueError);
}

TEST_CASE("backend registry") {
  CHECK(backend_for(kCPU).type() == kCPU);
  CHECK(backend_available(kCPU));
  CHECK(backend_available(kCUDA) == cuda::is_available());
  if (!cuda::is_available()) {
    CHECK(cuda::device_count() == 0);
    // "built without CUDA support", or no device present: a DeviceError either way.
    CHECK_THROWS_WITH_AS(backend_for(kCUDA), doctest::Contains("cuda"), DeviceError);
  }
}

TEST_CASE("allocation, copies and fill") {
  for (std::size_t n : {0, 1, 3, 64, 1000}) {
    void* p = cpu().allocate(n, 0);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    cpu().deallocate(p, 0);
  }
  std::vector<double> src(5000), dst(5000);
  std::iota(src.begin(), src.end(), 0.5);
  cpu().copy(dst.data(), src.data(), src.size() * sizeof(double));
  CHECK(dst == src);
  std::vector<double> host(5000);
  cpu().copy_to_host(host.data(), dst.data(), host.size() * sizeof(double));
  CHECK(host == src);

  std::vector<Half> h(7);
  cpu().fill(h.data(), kFloat16, 7, 0.1);
  CHECK(h[6].bits == 0x2e66);  // torch.tensor(0.1).half()
  std::vector<c64> z(3);
  cpu().fill(z.data(), kComplex64, 3, c128(1.5, -2.0));
  CHECK(z[2] == c64(1.5f, -2.0f));
  std::vector<int64_t> ints(100000);
  cpu().fill(ints.data(), kInt64, 100000, c128(-3.9, 0));
  CHECK(std::all_of(ints.begin(), ints.end(), [](int64_t v) { return v == -3; }));
  std::vector<char> flags(5);
  cpu().fill(flags.data(), kBool, 5, c128(0, 2));
  CHECK(flags[4] == 1);
}

TEST_CASE("float16 and bfloat16 rounding matches torch") {
  const std::size_t n = std::size(fx::kRoundIn);
  for (std::size_t i = 0; i < n; ++i) {
    INFO(fx::kRoundIn[i]);
    CHECK(Half(fx::kRoundIn[i]).bits == fx::kRoundHalf[i]);
    CHECK(BFloat16(fx::kRoundIn[i]).bits == fx::kRoundBFloat16[i]);
  }
  std::vector<Half> h(n);
  cpu().cast(fx::kRoundIn, kFloat32, h.data(), kFloat16, static_cast<int64_t>(n));
  for (std::size_t i = 0; i < n; ++i) CHECK(h[i].bits == fx::kRoundHalf[i]);
  // double -> float16 rounds through float32, as PyTorch does.
  std::vector<Half> hd(std::size(fx::kRoundDoubleIn));
  cpu().cast(fx::kRoundDoubleIn, kFloat64, hd.data(), kFloat16, static_cast<int64_t>(hd.size()));
  for (std::size_t i = 0; i < hd.size(); ++i) CHECK(hd[i].bits == fx::kRoundDoubleHalf[i]);
  // Every float16 value survives float16 -> float32 -> float16.
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const Half x = Half::from_bits(static_cast<uint16_t>(bits));
    const float f = x;
    if (std::isnan(f)) {
      CHECK(std::isnan(static_cast<float>(Half(f))));
    } else if (Half(f).bits != bits) {
      FAIL("float16 round trip broke for bits ", bits);
    }
  }
  CHECK(std::isnan(static_cast<float>(Half(NAN))));
  CHECK(BFloat16(NAN).bits == 0x7fc0);
}

TEST_CASE("cast between every pair of dtypes") {
  const double values[] = {0.0, 1.0, -2.5, 3.75};
  std::vector<double> in(std::begin(values), std::end(values));
  for (Dtype from : kAll) {
    for (Dtype to : kAll) {
      INFO(to_string(from), " -> ", to_string(to));
      std::vector<unsigned char> a(4 * element_size(from)), b(4 * element_size(to)), back(4 * 8);
      cpu().cast(in.data(), kFloat64, a.data(), from, 4);
      cpu().cast(a.data(), from, b.data(), to, 4);
      std::vector<double> got(4), want(4);
      cpu().cast(b.data(), to, got.data(), kFloat64, 4);
      for (int i = 0; i < 4; ++i) {
        double v = values[i];
        for (Dtype d : {from, to}) {
          if (d == kBool) v = v != 0.0;
          if (d == kInt64) v = std::trunc(v);
        }
        want[i] = v;
      }
      CHECK(got == want);
    }
  }
  std::vector<int64_t> ints(std::size(fx::kToIntIn));
  cpu().cast(fx::kToIntIn, kFloat64, ints.data(), kInt64, static_cast<int64_t>(ints.size()));
  for (std::size_t i = 0; i < ints.size(); ++i) CHECK(ints[i] == fx::kToIntOut[i]);
  const c64 z[] = {{0, 0}, {0, 1}, {2, 0}, {-0.0f, 0}};
  bool flags[4];
  cpu().cast(z, kComplex64, flags, kBool, 4);
  for (int i = 0; i < 4; ++i) CHECK(flags[i] == fx::kComplexToBool[i]);
  float re[2];
  const c128 zz[] = {{1.5, 7}, {-2, -1}};
  cpu().cast(zz, kComplex128, re, kFloat32, 2);
  CHECK(re[0] == 1.5f);
  CHECK(re[1] == -2.0f);
}

TEST_CASE("unary ops on floats against the C library") {
  const std::vector<double> x = {-2.5, -1.0, -0.0, 0.0, 0.25, 1.0, 3.5, NAN, INFINITY, -INFINITY};
  struct Case {
    UnaryOp op;
    double (*ref)(double);
  };
  const Case cases[] = {
      {UnaryOp::Neg, [](double v) { return -v; }},
      {UnaryOp::Abs, [](double v) { return std::fabs(v); }},
      {UnaryOp::Sign, [](double v) { return static_cast<double>((0 < v) - (v < 0)); }},
      {UnaryOp::Sqrt, [](double v) { return std::sqrt(v); }},
      {UnaryOp::Rsqrt, [](double v) { return 1 / std::sqrt(v); }},
      {UnaryOp::Exp, [](double v) { return std::exp(v); }},
      {UnaryOp::Log, [](double v) { return std::log(v); }},
      {UnaryOp::Reciprocal, [](double v) { return 1 / v; }},
      {UnaryOp::Sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {UnaryOp::Tanh, [](double v) { return std::tanh(v); }},
      {UnaryOp::Relu, [](double v) { return v < 0 ? 0.0 : v; }},
      {UnaryOp::Conj, [](double v) { return v; }},
      {UnaryOp::Sin, [](double v) { return std::sin(v); }},
      {UnaryOp::Cos, [](double v) { return std::cos(v); }},
      {UnaryOp::Square, [](double v) { return v * v; }},
      {UnaryOp::Log1p, [](double v) { return std::log1p(v); }},
      {UnaryOp::Expm1, [](double v) { return std::expm1(v); }},
      {UnaryOp::Real, [](double v) { return v; }},
      {UnaryOp::Angle, [](double v) { return v != v ? v : (v < 0 ? M_PI : 0.0); }},
  };
  for (const Case& c : cases) {
    INFO(static_cast<int>(c.op));
    const std::vector<double> got = unary(c.op, x);
    const std::vector<float> xf(x.begin(), x.end());
    const std::vector<float> gotf = unary(c.op, xf);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO(x[i]);
      CHECK(same_bits(got[i], c.ref(x[i])));
      const double want = static_cast<float>(c.ref(x[i]));
      CHECK((same_bits(gotf[i], want) || std::fabs(gotf[i] - want) <= 2e-7 * std::fabs(want)));
    }
  }
  CHECK(std::signbit(unary(UnaryOp::Relu, std::vector<double>{-0.0})[0]));  // as clamp_min(-0.0, 0)
  const auto fin = predicate(UnaryOp::IsFinite, x);
  const auto nan = predicate(UnaryOp::IsNan, x);
  const auto inf = predicate(UnaryOp::IsInf, x);
  const auto lnot = predicate(UnaryOp::LogicalNot, x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    CHECK(fin[i] == std::isfinite(x[i]));
    CHECK(nan[i] == std::isnan(x[i]));
    CHECK(inf[i] == std::isinf(x[i]));
    CHECK(lnot[i] == (x[i] == 0));
  }
}

TEST_CASE("unary ops on float16, int64, bool and complex") {
  const std::vector<Half> h = {Half(0.1f), Half(-3.0f), Half(65504.0f)};
  const auto hs = unary(UnaryOp::Square, h);
  const float h01 = Half(0.1f);
  CHECK(hs[0].bits == Half(h01 * h01).bits);  // squared in float, rounded once
  CHECK(std::isinf(static_cast<float>(hs[2])));
  const std::vector<int64_t> i = {-7, 0, 5};
  CHECK(unary(UnaryOp::Abs, i) == std::vector<int64_t>{7, 0, 5});
  CHECK(unary(UnaryOp::Sign, i) == std::vector<int64_t>{-1, 0, 1});
  CHECK(unary(UnaryOp::Relu, i) == std::vector<int64_t>{0, 0, 5});
  CHECK(unary(UnaryOp::Neg, i) == std::vector<int64_t>{7, 0, -5});
  const std::vector<c128> z = {{3, 4}, {0, 0}, {-1, 1e-3}};
  const auto mag = unary<c128, double>(UnaryOp::Abs, z);
  CHECK(mag[0] == 5.0);
  const auto sgn = unary(UnaryOp::Sign, z);
  CHECK(sgn[0] == c128(0.6, 0.8));
  CHECK(sgn[1] == c128(0, 0));
  CHECK(unary<c128, double>(UnaryOp::Real, z)[2] == -1.0);
  CHECK(unary<c128, double>(UnaryOp::Imag, z)[2] == 1e-3);
  CHECK(unary<c128, double>(UnaryOp::Angle, z)[0] == std::atan2(4.0, 3.0));
  CHECK(unary(UnaryOp::Conj, z)[0] == c128(3, -4));
  CHECK(unary(UnaryOp::Square, z)[0] == c128(-7, 24));
  CHECK(unary(UnaryOp::Reciprocal, z)[0] == c128(0.12, -0.16));
  const auto l1p = unary(UnaryOp::Log1p, std::vector<c128>{{1e-10, 1e-10}});
  CHECK(l1p[0].real() == doctest::Approx(1e-10).epsilon(1e-6));
  CHECK(l1p[0].imag() == doctest::Approx(1e-10).epsilon(1e-6));
  const auto em1 = unary(UnaryOp::Expm1, std::vector<c128>{{1e-10, 0}});
  CHECK(em1[0].real() == doctest::Approx(1e-10).epsilon(1e-6));
  CHECK(predicate(UnaryOp::LogicalNot, z) == std::vector<int>{0, 1, 0});
  const unsigned char flags[] = {1, 0};
  unsigned char signs[2];
  cpu().unary(UnaryOp::Sign, kBool, flags, signs, kBool, 2);  // torch.sign keeps bool
  CHECK((signs[0] == 1 && signs[1] == 0));
  CHECK(predicate(UnaryOp::IsNan, std::vector<c128>{{0, NAN}, {1, 0}}) == std::vector<int>{1, 0});
  CHECK(predicate(UnaryOp::IsInf, std::vector<c64>{{0, -INFINITY}, {NAN, INFINITY}, {NAN, 0}}) == std::vector<int>{1, 1, 0});

  double out = 0;
  const int64_t one = 4;
  CHECK_THROWS_WITH_AS(cpu().unary(UnaryOp::Sqrt, kInt64, &one, &out, kFloat64, 1),
                       doctest::Contains("sqrt: not implemented for torch.int64"), NotImplementedError);
  CHECK_THROWS_WITH_AS(cpu().unary(UnaryOp::Imag, kFloat64, &out, &out, kFloat64, 1),
                       doctest::Contains("imag: not implemented for torch.float64"), NotImplementedError);
  CHECK_THROWS_WITH_AS(cpu().unary(UnaryOp::Relu, kComplex128, &z[0], &out, kComplex128, 1),
                       doctest::Contains("relu"), NotImplementedError);
  CHECK_THROWS_WITH_AS(cpu().unary(UnaryOp::Neg, kBool, &one, &out, kBool, 1), doctest::Contains("neg"),
                       NotImplementedError);
}

namespace {

// Runs op over the fixture's 64 elements in dtype T; inputs and scalars as PyTorch got them.
template <class T>
std::vector<double> run_fixture(BinaryOp op, std::initializer_list<const double*> inputs, c128 s0 = 0.0,
                                std::initializer_list<c128> scalar_inputs = {}) {
  constexpr std::size_t n = std::size(fx::kF32A);
  std::vector<std::vector<T>> data;
  for (const double* in : inputs) data.push_back(from_doubles<T>(in, n));
  std::vector<T> out(n);
  ElementwiseArgs args = launch({static_cast<int64_t>(n)}, {}, out.data(), dtype_of<T>::value);
  int j = 0;
  for (const auto& d : data) args.inputs[j++] = tensor_in(d.data(), dtype_of<T>::value, {1});
  for (c128 s : scalar_inputs) args.inputs[j++] = scalar_in(s);
  args.ninputs = j;
  args.scalars[0] = s0;
  cpu().elementwise(op, args);
  return to_doubles(out);
}

struct FixtureSet {
  const double *a, *b, *c, *w, *add_alpha, *sub_alpha, *add, *mul, *div, *addcmul, *addcdiv, *lerp_small,
      *lerp_large, *lerp_tensor, *square, *cube, *inv_square, *reciprocal, *remainder, *clamp, *add_scalar;
};

#define DESCENT_FIXTURE_SET(P)                                                                                    \
  FixtureSet {                                                                                                    \
    fx::k##P##A, fx::k##P##B, fx::k##P##C, fx::k##P##W, fx::k##P##AddAlpha, fx::k##P##SubAlpha, fx::k##P##Add,   \
        fx::k##P##Mul, fx::k##P##Div, fx::k##P##Addcmul, fx::k##P##Addcdiv, fx::k##P##LerpSmall,                  \
        fx::k##P##LerpLarge, fx::k##P##LerpTensor, fx::k##P##Square, fx::k##P##Cube, fx::k##P##InvSquare,        \
        fx::k##P##Reciprocal, fx::k##P##Remainder, fx::k##P##Clamp, fx::k##P##AddScalar                           \
  }

template <class T>
void check_fixture_set(const FixtureSet& f) {
  auto check = [](const std::string& what, const std::vector<double>& got, const double* want) {
    INFO(what);
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO(i, ": got ", got[i], " want ", want[i]);
      CHECK(same_bits(got[i], want[i]));
    }
  };
  check("add alpha", run_fixture<T>(BinaryOp::Add, {f.a, f.b}, 0.3), f.add_alpha);
  check("sub alpha", run_fixture<T>(BinaryOp::Sub, {f.a, f.b}, 0.7), f.sub_alpha);
  check("add", run_fixture<T>(BinaryOp::Add, {f.a, f.b}, 1.0), f.add);
  check("mul", run_fixture<T>(BinaryOp::Mul, {f.a, f.b}), f.mul);
  check("div", run_fixture<T>(BinaryOp::Div, {f.a, f.c}), f.div);
  check("addcmul", run_fixture<T>(BinaryOp::Addcmul, {f.a, f.b, f.c}, 0.3), f.addcmul);
  check("addcdiv", run_fixture<T>(BinaryOp::Addcdiv, {f.a, f.b, f.c}, -0.3), f.addcdiv);
  check("lerp 0.3", run_fixture<T>(BinaryOp::Lerp, {f.a, f.b}, 0.3), f.lerp_small);
  check("lerp 0.8", run_fixture<T>(BinaryOp::Lerp, {f.a, f.b}, 0.8), f.lerp_large);
  check("lerp tensor", run_fixture<T>(BinaryOp::Lerp, {f.a, f.b, f.w}), f.lerp_tensor);
  check("pow 2", run_fixture<T>(BinaryOp::Pow, {f.c}, 0.0, {2.0}), f.square);
  check("pow 3", run_fixture<T>(BinaryOp::Pow, {f.c}, 0.0, {3.0}), f.cube);
  check("pow -2", run_fixture<T>(BinaryOp::Pow, {f.c}, 0.0, {-2.0}), f.inv_square);
  check("pow -1", run_fixture<T>(BinaryOp::Pow, {f.c}, 0.0, {-1.0}), f.reciprocal);
  check("remainder", run_fixture<T>(BinaryOp::Remainder, {f.a, f.c}), f.remainder);
  check("add scalar", run_fixture<T>(BinaryOp::Add, {f.a}, 1.0, {0.1}), f.add_scalar);
  constexpr std::size_t n = std::size(fx::kF32A);
  std::vector<T> a = from_doubles<T>(f.a, n), out(n);
  auto args = launch({static_cast<int64_t>(n)}, {tensor_in(a.data(), dtype_of<T>::value)}, out.data(),
                     dtype_of<T>::value);
  args.scalars = {-0.5, 0.75};
  args.has_min = args.has_max = true;
  cpu().elementwise(BinaryOp::Clamp, args);
  check("clamp", to_doubles(out), f.clamp);
}

}  // namespace

TEST_CASE("elementwise ops are bit-exact with torch in every floating dtype") {
  SUBCASE("float32") { check_fixture_set<float>(DESCENT_FIXTURE_SET(F32)); }
  SUBCASE("float64") { check_fixture_set<double>(DESCENT_FIXTURE_SET(F64)); }
  SUBCASE("float16") { check_fixture_set<Half>(DESCENT_FIXTURE_SET(F16)); }
  SUBCASE("bfloat16") { check_fixture_set<BFloat16>(DESCENT_FIXTURE_SET(BF16)); }
}

TEST_CASE("broadcasting, strided operands and wrapped scalars") {
  // (2, 3) + (3,) broadcast along dim 0, and a transposed (3, 2) buffer read as (2, 3).
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, row = {10, 20, 30}, at = {1, 4, 2, 5, 3, 6};
  std::vector<float> out(6);
  cpu().elementwise(BinaryOp::Mul, launch({2, 3}, {tensor_in(a.data(), kFloat32), tensor_in(row.data(), kFloat32, {0, 1})},
                                          out.data(), kFloat32));
  CHECK(out == std::vector<float>{10, 40, 90, 40, 100, 180});
  auto sub = launch({2, 3}, {tensor_in(a.data(), kFloat32), tensor_in(at.data(), kFloat32, {1, 2})}, out.data(), kFloat32);
  sub.scalars[0] = 1.0;  // alpha
  cpu().elementwise(BinaryOp::Sub, sub);
  CHECK(out == std::vector<float>(6, 0.0f));
  // A column (2, 1) against a row (1, 3): an outer sum; size-1 dims anywhere.
  const std::vector<double> col = {100, 200};
  const std::vector<double> r3 = {1, 2, 3};
  std::vector<double> outer(6);
  auto args = launch({2, 1, 3}, {tensor_in(col.data(), kFloat64, {1, 0, 0}), tensor_in(r3.data(), kFloat64, {0, 0, 1})},
                     outer.data(), kFloat64);
  args.scalars[0] = 1.0;
  cpu().elementwise(BinaryOp::Add, args);
  CHECK(outer == std::vector<double>{101, 102, 103, 201, 202, 203});
  // Copy reads through strides and converts: a transposed int64 buffer into float64.
  const std::vector<int64_t> it = {1, 4, 2, 5, 3, 6};
  cpu().elementwise(BinaryOp::Copy, launch({2, 3}, {tensor_in(it.data(), kInt64, {1, 2})}, outer.data(), kFloat64));
  CHECK(outer == std::vector<double>{1, 2, 3, 4, 5, 6});
  // A wrapped scalar is applied in opmath (float), not rounded to float16 first.
  const std::vector<Half> h = {Half(1.0f), Half(2047.0f)};
  std::vector<Half> hout(2);
  cpu().elementwise(BinaryOp::Mul, launch({2}, {tensor_in(h.data(), kFloat16), scalar_in(1.00048)}, hout.data(), kFloat16));
  CHECK(Half(1.00048f).bits == Half(1.0f).bits);
  CHECK(static_cast<float>(hout[1]) == 2048.0f);  // 2047 * 1.00048 = 2047.98 in float; 2047 had the scalar been rounded
  cpu().elementwise(BinaryOp::Div, launch({2}, {scalar_in(1.0), tensor_in(h.data(), kFloat16)}, hout.data(), kFloat16));
  CHECK(hout[1].bits == Half(1.0f / 2047.0f).bits);
  // A large broadcast (strided path) matches the elementwise reference.
  const int64_t rows = 300, cols = 257;
  std::vector<float> big(rows * cols), bias(cols), res(rows * cols);
  std::iota(big.begin(), big.end(), 0.0f);
  std::iota(bias.begin(), bias.end(), -100.0f);
  cpu().elementwise(BinaryOp::Maximum, launch({rows, cols}, {tensor_in(big.data(), kFloat32), tensor_in(bias.data(), kFloat32, {0, 1})},
                                              res.data(), kFloat32));
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (res[i] != std::max(big[i], bias[i % cols])) FAIL("broadcast maximum differs at ", i);
  }
}

TEST_CASE("comparisons, logical ops and where write bool") {
  const std::vector<double> a = {1, 2, NAN, -0.0}, b = {2, 2, NAN, 0.0};
  const BinaryOp ops[] = {BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge,
                          BinaryOp::LogicalAnd, BinaryOp::LogicalOr, BinaryOp::LogicalXor};
  const std::vector<int> want[] = {{0, 1, 0, 1}, {1, 0, 1, 0}, {1, 0, 0, 0}, {1, 1, 0, 1}, {0, 0, 0, 0},
                                   {0, 1, 0, 1}, {1, 1, 1, 0}, {1, 1, 1, 0}, {0, 0, 0, 0}};
  for (int k = 0; k < 9; ++k) {
    unsigned char out[4];
    cpu().elementwise(ops[k], launch({4}, {tensor_in(a.data(), kFloat64), tensor_in(b.data(), kFloat64)}, out, kBool));
    CHECK(std::vector<int>(out, out + 4) == want[k]);
  }
  unsigned char out[4];
  cpu().elementwise(BinaryOp::Gt, launch({4}, {tensor_in(a.data(), kFloat64), scalar_in(1.5)}, out, kBool));
  CHECK(std::vector<int>(out, out + 4) == std::vector<int>{0, 1, 0, 0});
  const std::vector<c64> z = {{1, 2}, {1, 0}};
  cpu().elementwise(BinaryOp::Eq, launch({2}, {tensor_in(z.data(), kComplex64), scalar_in(c128(1, 2))}, out, kBool));
  CHECK(std::vector<int>(out, out + 2) == std::vector<int>{1, 0});
  CHECK_THROWS_WITH_AS(cpu().elementwise(BinaryOp::Lt, launch({2}, {tensor_in(z.data(), kComplex64), tensor_in(z.data(), kComplex64)}, out, kBool)),
                       doctest::Contains("lt: not implemented for torch.complex64"), NotImplementedError);

  const unsigned char cond[] = {1, 0, 1, 0};
  const std::vector<int64_t> x = {1, 2, 3, 4}, y = {-1, -2, -3, -4};
  std::vector<int64_t> w(4);
  cpu().elementwise(BinaryOp::Where, launch({4}, {tensor_in(cond, kBool), tensor_in(x.data(), kInt64), tensor_in(y.data(), kInt64)},
                                            w.data(), kInt64));
  CHECK(w == std::vector<int64_t>{1, -2, 3, -4});
  // Broadcast condition (a column) with a scalar value.
  const unsigned char col[] = {0, 1};
  cpu().elementwise(BinaryOp::Where, launch({2, 2}, {tensor_in(col, kBool, {1, 0}), scalar_in(7.0), tensor_in(y.data(), kInt64)},
                                            w.data(), kInt64));
  CHECK(w == std::vector<int64_t>{-1, -2, 7, 7});
}

TEST_CASE("maximum, minimum, clamp and threshold_backward with NaN") {
  const std::vector<double> a = {1, NAN, 3, -0.0}, b = {NAN, 2, 1, 0.0};
  const auto mx = binary(BinaryOp::Maximum, a, b), mn = binary(BinaryOp::Minimum, a, b);
  CHECK(std::isnan(mx[0]));
  CHECK(std::isnan(mx[1]));
  CHECK(mx[2] == 3);
  CHECK(std::isnan(mn[0]));
  CHECK(mn[2] == 1);
  // Tensor bounds: a missing bound is passed as any tensor and ignored (has_min/has_max).
  const std::vector<double> x = {-5, 0.5, 5, NAN, 0.2}, lo = {-1, -1, -1, -1, NAN}, hi = {1, 0.25, 1, 1, 1};
  std::vector<double> out(5);
  auto args = launch({5}, {tensor_in(x.data(), kFloat64), tensor_in(lo.data(), kFloat64), tensor_in(hi.data(), kFloat64)},
                     out.data(), kFloat64);
  args.has_min = args.has_max = true;
  cpu().elementwise(BinaryOp::Clamp, args);
  CHECK(out[0] == -1);
  CHECK(out[1] == 0.25);
  CHECK(out[2] == 1);
  CHECK(std::isnan(out[3]));
  CHECK(std::isnan(out[4]));  // a NaN bound gives NaN, as torch.clamp
  args.has_max = false;
  cpu().elementwise(BinaryOp::Clamp, args);
  CHECK(out[2] == 5);
  args.has_min = false;
  args.has_max = true;
  cpu().elementwise(BinaryOp::Clamp, args);
  CHECK(out[0] == -5);
  CHECK(out[2] == 1);
  // Scalar bounds on int64, min only.
  const std::vector<int64_t> xi = {-3, 7};
  std::vector<int64_t> oi(2);
  auto iargs = launch({2}, {tensor_in(xi.data(), kInt64)}, oi.data(), kInt64);
  iargs.scalars[0] = 0.0;
  iargs.has_min = true;
  cpu().elementwise(BinaryOp::Clamp, iargs);
  CHECK(oi == std::vector<int64_t>{0, 7});

  const std::vector<float> grad = {1, 2, 3, 4}, input = {-1, 0, 0.5, NAN};
  const auto tb = binary(BinaryOp::ThresholdBackward, grad, input, 0.0);
  CHECK(tb == std::vector<float>{0, 0, 3, 4});  // input <= threshold ? 0 : grad, so NaN passes grad
}

TEST_CASE("integer and bool arithmetic") {
  const std::vector<int64_t> a = {7, -7, 7, -7, 5}, b = {3, 3, -3, -3, 1};
  CHECK(binary(BinaryOp::Remainder, a, b) == std::vector<int64_t>{1, 2, -2, -1, 0});
  CHECK(binary(BinaryOp::Add, a, b, 2.0) == std::vector<int64_t>{13, -1, 1, -13, 7});
  CHECK(binary(BinaryOp::Sub, a, b, 1.0) == std::vector<int64_t>{4, -10, 10, -4, 4});
  CHECK(binary(BinaryOp::Mul, a, b) == std::vector<int64_t>{21, -21, -21, 21, 5});
  CHECK(binary(BinaryOp::Pow, std::vector<int64_t>{2, -3, 2, 1, -1, 5}, std::vector<int64_t>{10, 3, -1, -5, -3, 0}) ==
        std::vector<int64_t>{1024, -27, 0, 1, -1, 1});
  CHECK(binary(BinaryOp::Maximum, a, b) == std::vector<int64_t>{7, 3, 7, -3, 5});
  const std::vector<int64_t> zero = {1, 0};
  CHECK_THROWS_WITH_AS(binary(BinaryOp::Remainder, zero, zero), doctest::Contains("ZeroDivisionError"), RuntimeError);
  const std::vector<int64_t> ri = {std::numeric_limits<int64_t>::min()}, m1 = {-1};
  CHECK(binary(BinaryOp::Remainder, ri, m1) == std::vector<int64_t>{0});  // no SIGFPE
  const unsigned char t[] = {1, 1, 0, 0}, f[] = {1, 0, 1, 0};
  unsigned char out[4];
  cpu().elementwise(BinaryOp::Add, launch({4}, {tensor_in(t, kBool), tensor_in(f, kBool)}, out, kBool));
  CHECK(std::vector<int>(out, out + 4) == std::vector<int>{1, 1, 1, 0});
  cpu().elementwise(BinaryOp::Mul, launch({4}, {tensor_in(t, kBool), tensor_in(f, kBool)}, out, kBool));
  CHECK(std::vector<int>(out, out + 4) == std::vector<int>{1, 0, 0, 0});
}

TEST_CASE("complex elementwise ops") {
  const std::vector<c128> a = {{1, 2}, {-3, 0.5}}, b = {{0.5, -1}, {2, 2}};
  const auto mul = binary(BinaryOp::Mul, a, b), div = binary(BinaryOp::Div, a, b);
  CHECK(mul[0] == c128(2.5, 0));
  CHECK(div[1].real() == doctest::Approx((-3 * 2 + 0.5 * 2) / 8.0));
  CHECK(div[1].imag() == doctest::Approx((0.5 * 2 + 3 * 2) / 8.0));
  const auto add = binary(BinaryOp::Add, a, b, c128(0, 1));  // a + i*b
  CHECK(add[0] == c128(2, 2.5));
  const auto lerp = binary(BinaryOp::Lerp, a, b, 0.25);
  CHECK(lerp[0] == c128(0.875, 1.25));
  const std::vector<c64> z = {{1, 1}};
  std::vector<c64> zo(1);
  cpu().elementwise(BinaryOp::Pow, launch({1}, {tensor_in(z.data(), kComplex64), scalar_in(2.0)}, zo.data(), kComplex64));
  CHECK(zo[0] == c64(0, 2));
  CHECK_THROWS_WITH_AS(binary(BinaryOp::Maximum, a, b), doctest::Contains("maximum: not implemented for torch.complex128"),
                       NotImplementedError);
}

TEST_CASE("elementwise launch errors") {
  const std::vector<double> a = {1, 2};
  std::vector<double> out(2);
  auto args = launch({2}, {tensor_in(a.data(), kFloat64)}, out.data(), kFloat64);
  CHECK_THROWS_WITH_AS(cpu().elementwise(BinaryOp::Add, args), doctest::Contains("add: invalid number of inputs 1"),
                       ValueError);
  CHECK_THROWS_WITH_AS(cpu().elementwise(BinaryOp::Addcmul, args), doctest::Contains("addcmul: invalid number of inputs"),
                       ValueError);
  args.numel = 3;
  CHECK_THROWS_WITH_AS(cpu().elementwise(BinaryOp::Copy, args), doctest::Contains("does not match"), ValueError);
  const std::vector<int64_t> i = {1, 2};
  std::vector<int64_t> io(2);
  CHECK_THROWS_WITH_AS(cpu().elementwise(BinaryOp::Atan2, launch({2}, {tensor_in(i.data(), kInt64), tensor_in(i.data(), kInt64)}, io.data(), kInt64)),
                       doctest::Contains("atan2: not implemented for torch.int64"), NotImplementedError);
  const unsigned char bb[] = {1, 0};
  unsigned char bo[2];
  CHECK_THROWS_WITH_AS(cpu().elementwise(BinaryOp::Sub, launch({2}, {tensor_in(bb, kBool), tensor_in(bb, kBool)}, bo, kBool)),
                       doctest::Contains("sub: not implemented for torch.bool"), NotImplementedError);
  // An empty launch does nothing (and needs no memory).
  cpu().elementwise(BinaryOp::Add, launch({0, 3}, {tensor_in(nullptr, kFloat64), tensor_in(nullptr, kFloat64)}, nullptr, kFloat64));
}

