// The CUDA backend's elementwise kernels against the CPU backend, on the
// same random inputs: every unary and binary op, every dtype, broadcast,
// strided and scalar operands, fill and cast; plus device discovery and
// memory. Without a GPU the kernels run through the thrust-host backend (the
// same sources compiled for Thrust's CPP system); with one, the "cuda device"
// cases repeat the comparison on the GPU. Reductions, matmul and the fused
// optimizer kernels: test_cuda_reduce.cpp.
#include <doctest/doctest.h>

#include <array>
#include <utility>

#include "cuda_backend_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

// ---- unary ------------------------------------------------------------------

struct UnaryName {
  UnaryOp op;
  const char* name;
};
constexpr UnaryName kUnaryOps[] = {
    {UnaryOp::Neg, "neg"},
    {UnaryOp::Abs, "abs"},
    {UnaryOp::Sign, "sign"},
    {UnaryOp::Sqrt, "sqrt"},
    {UnaryOp::Rsqrt, "rsqrt"},
    {UnaryOp::Exp, "exp"},
    {UnaryOp::Log, "log"},
    {UnaryOp::Reciprocal, "reciprocal"},
    {UnaryOp::Sigmoid, "sigmoid"},
    {UnaryOp::Tanh, "tanh"},
    {UnaryOp::Relu, "relu"},
    {UnaryOp::Conj, "conj"},
    {UnaryOp::Sin, "sin"},
    {UnaryOp::Cos, "cos"},
    {UnaryOp::Square, "square"},
    {UnaryOp::Log1p, "log1p"},
    {UnaryOp::Expm1, "expm1"},
    {UnaryOp::IsFinite, "isfinite"},
    {UnaryOp::IsNan, "isnan"},
    {UnaryOp::IsInf, "isinf"},
    {UnaryOp::LogicalNot, "logical_not"},
    {UnaryOp::Real, "real"},
    {UnaryOp::Imag, "imag"},
    {UnaryOp::Angle, "angle"},
};

// Exactly rounded or written out identically in both backends: bit-exact.
bool unary_exact(UnaryOp op, Dtype dtype) {
  switch (op) {
    case UnaryOp::Exp:
    case UnaryOp::Log:
    case UnaryOp::Sigmoid:
    case UnaryOp::Tanh:
    case UnaryOp::Sin:
    case UnaryOp::Cos:
    case UnaryOp::Log1p:
    case UnaryOp::Expm1:
      return false;
    // Complex magnitudes and roots come from different libraries (std vs thrust::complex).
    case UnaryOp::Abs:
    case UnaryOp::Sign:
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Angle:
      return !is_complex(dtype);
    default:
      return true;
  }
}

Dtype unary_out(UnaryOp op, Dtype dtype) {
  if (op == UnaryOp::IsFinite || op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::LogicalNot)
    return kBool;
  if (op == UnaryOp::Abs || op == UnaryOp::Real || op == UnaryOp::Imag || op == UnaryOp::Angle)
    return to_real_dtype(dtype);
  return dtype;
}

const char* name_of(UnaryOp op) {
  for (const auto& u : kUnaryOps)
    if (u.op == op) return u.name;
  return "?";
}

void check_unary_all(Backend& dev) {
  unsigned seed = 1;
  for (const auto& [op, name] : kUnaryOps) {
    for (Dtype dtype : kAllDtypes) {
      const bool exact = unary_exact(op, dtype);
      // Special values of complex transcendental functions follow each library's own conventions.
      const Host in =
          random_host(dtype, 97, seed++, !exact && is_complex(dtype) ? Values::Finite : Values::General);
      const Dtype out = unary_out(op, dtype);
      INFO(std::string(name), " on ", to_string(dtype));
      compare_with_cpu(
          dev, [&](Backend& be) { return run_unary(be, op, in, out); }, exact ? Tol{} : approx(dtype));
    }
  }
}

// Outputs of another dtype than the op's own result are converted on store.
void check_unary_converting_output(Backend& dev) {
  const struct {
    UnaryOp op;
    Dtype in, out;
  } cases[] = {{UnaryOp::Neg, kFloat16, kFloat32},  {UnaryOp::Square, kBFloat16, kFloat64},
               {UnaryOp::IsNan, kFloat32, kInt64},  {UnaryOp::Abs, kComplex64, kFloat64},
               {UnaryOp::Relu, kFloat32, kFloat16}, {UnaryOp::Neg, kInt64, kFloat32}};
  for (const auto& c : cases) {
    const Host in = random_host(c.in, 50, 7);
    INFO(name_of(c.op), " from ", to_string(c.in), " into ", to_string(c.out));
    const std::string diff =
        mismatch(run_unary(dev, c.op, in, c.out), run_unary(cpu(), c.op, in, c.out), Tol{});
    CHECK_MESSAGE(diff.empty(), diff);
  }
}

}  // namespace

TEST_CASE("cuda backend: device discovery never aborts without a GPU") {
  const int count = cuda::device_count();
  CHECK(count >= 0);
  CHECK(cuda::is_available() == (count > 0));
  CHECK(backend_available(kCUDA) == cuda::is_available());
  if (!cuda::is_available()) CHECK_THROWS_WITH_AS(backend_for(kCUDA), doctest::Contains("cuda"), DeviceError);
}

TEST_CASE("thrust-host backend: unary ops match the CPU backend") {
  if (Backend* dev = thrust_host()) {
    CHECK(dev->type() == kCPU);
    check_unary_all(*dev);
    check_unary_converting_output(*dev);
  }
}

TEST_CASE("cuda device: unary ops match the CPU backend") {
  if (Backend* dev = gpu()) {
    check_unary_all(*dev);
    check_unary_converting_output(*dev);
  }
}

namespace {

// ---- binary and ternary -----------------------------------------------------

struct BinaryName {
  BinaryOp op;
  const char* name;
};
constexpr BinaryName kBinaryOps[] = {
    {BinaryOp::Copy, "copy"},
    {BinaryOp::Add, "add"},
    {BinaryOp::Sub, "sub"},
    {BinaryOp::Mul, "mul"},
    {BinaryOp::Div, "div"},
    {BinaryOp::Pow, "pow"},
    {BinaryOp::Maximum, "maximum"},
    {BinaryOp::Minimum, "minimum"},
    {BinaryOp::Atan2, "atan2"},
    {BinaryOp::Remainder, "remainder"},
    {BinaryOp::Eq, "eq"},
    {BinaryOp::Ne, "ne"},
    {BinaryOp::Lt, "lt"},
    {BinaryOp::Le, "le"},
    {BinaryOp::Gt, "gt"},
    {BinaryOp::Ge, "ge"},
    {BinaryOp::LogicalAnd, "logical_and"},
    {BinaryOp::LogicalOr, "logical_or"},
    {BinaryOp::LogicalXor, "logical_xor"},
    {BinaryOp::Lerp, "lerp"},
    {BinaryOp::Addcmul, "addcmul"},
    {BinaryOp::Addcdiv, "addcdiv"},
    {BinaryOp::Where, "where"},
    {BinaryOp::Clamp, "clamp"},
    {BinaryOp::ThresholdBackward, "threshold_backward"},
};

const char* name_of(BinaryOp op) {
  for (const auto& b : kBinaryOps)
    if (b.op == op) return b.name;
  return "?";
}

bool writes_bool(BinaryOp op) {
  switch (op) {
    case BinaryOp::Eq:
    case BinaryOp::Ne:
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge:
    case BinaryOp::LogicalAnd:
    case BinaryOp::LogicalOr:
    case BinaryOp::LogicalXor:
      return true;
    default:
      return false;
  }
}

// How one operand is laid out over the output shape [4, 5, 6].
enum class Shape { Contiguous, Transposed, BroadcastMid, BroadcastRows, Scalar };

struct Layout {
  int64_t n;
  std::array<int64_t, 3> strides;
  bool contiguous;
};

Layout layout_of(Shape s) {
  switch (s) {
    case Shape::Contiguous:
      return {120, {30, 6, 1}, true};
    case Shape::Transposed:
      return {120, {1, 4, 20}, false};  // a [6, 5, 4] tensor read as [4, 5, 6]
    case Shape::BroadcastMid:
      return {5, {0, 1, 0}, false};  // [1, 5, 1]
    case Shape::BroadcastRows:
      return {24, {6, 0, 1}, false};  // [4, 1, 6]
    case Shape::Scalar:
      break;
  }
  return {0, {0, 0, 0}, false};
}

// Operand shapes of each variant; input k uses variant[k].
constexpr Shape kVariants[][3] = {
    {Shape::Contiguous, Shape::Contiguous, Shape::Contiguous},
    {Shape::Contiguous, Shape::BroadcastMid, Shape::Transposed},
    {Shape::Transposed, Shape::Scalar, Shape::BroadcastRows},
    {Shape::Scalar, Shape::Transposed, Shape::BroadcastMid},
};

int arity(BinaryOp op, int variant) {
  switch (op) {
    case BinaryOp::Copy:
      return 1;
    case BinaryOp::Clamp:
      return 1 + variant % 3;
    case BinaryOp::Lerp:
      return 2 + variant % 2;
    case BinaryOp::Addcmul:
    case BinaryOp::Addcdiv:
    case BinaryOp::Where:
      return 3;
    default:
      return 2;
  }
}

C scalar_value(Dtype dtype, int variant) {
  if (dtype == kBool) return 1.0;
  if (is_integral(dtype, true)) return variant == 2 ? 2.0 : 3.0;  // also Pow's integer fast path (x*x)
  if (is_complex(dtype)) return {1.5, -0.5};
  return variant == 2 ? 2.0 : 0.5;  // Pow's Square and Sqrt fast paths
}

Launch make_launch(BinaryOp op, Dtype dtype, int variant, unsigned seed) {
  Launch l{op, {}, {}};
  ElementwiseArgs& a = l.args;
  a.numel = 120;
  a.ndim = 3;
  a.sizes[0] = 4;
  a.sizes[1] = 5;
  a.sizes[2] = 6;
  a.ninputs = arity(op, variant);
  a.out_dtype = writes_bool(op) ? kBool : dtype;
  const bool integral = is_integral(dtype, true);
  a.scalars[0] = integral ? C(2.0) : C(0.75);
  if (op == BinaryOp::Add || op == BinaryOp::Sub) a.scalars[0] = variant == 0 ? C(1.0) : a.scalars[0];
  if (op == BinaryOp::Clamp) a.scalars = {C(-1.0), C(1.5)};
  if (op == BinaryOp::ThresholdBackward) a.scalars[0] = 0.25;
  a.has_min = op == BinaryOp::Clamp;
  a.has_max = op == BinaryOp::Clamp && variant % 2 == 0;
  a.tensor_weight = op == BinaryOp::Lerp && a.ninputs == 3;
  for (int k = 0; k < a.ninputs; ++k) {
    const Dtype in_dtype = op == BinaryOp::Where && k == 0 ? kBool : dtype;
    // Where's condition is never a wrapped number.
    const Shape s = op == BinaryOp::Where && k == 0 && kVariants[variant][k] == Shape::Scalar
                        ? Shape::BroadcastRows
                        : kVariants[variant][k];
    Operand& o = a.inputs[k];
    o.dtype = in_dtype;
    if (s == Shape::Scalar) {
      o.is_scalar = true;
      o.contiguous = false;
      o.scalar = scalar_value(dtype, variant);
      l.inputs.emplace_back();
      continue;
    }
    const Layout lay = layout_of(s);
    std::copy(lay.strides.begin(), lay.strides.end(), o.strides.begin());
    o.contiguous = lay.contiguous;
    const bool divisor = op == BinaryOp::Remainder && k == 1 && integral;
    // Special values of complex pow follow each library's own conventions.
    const bool finite = op == BinaryOp::Pow && is_complex(dtype);
    const Values kind = divisor ? Values::NonzeroInt : finite ? Values::Finite : Values::General;
    l.inputs.push_back(random_host(in_dtype, lay.n, seed + 31 * k, kind));
  }
  return l;
}

// Pow and atan2 call each system's math library; everything else, complex
// products included (math::mul keeps each product rounded), agrees bit for bit.
bool binary_exact(BinaryOp op, Dtype) { return op != BinaryOp::Pow && op != BinaryOp::Atan2; }

void check_binary_all(Backend& dev) {
  unsigned seed = 100;
  for (const auto& [op, name] : kBinaryOps) {
    for (Dtype dtype : kAllDtypes) {
      const bool exact = binary_exact(op, dtype);
      for (int variant = 0; variant < 4; ++variant) {
        if (op == BinaryOp::Copy && kVariants[variant][0] == Shape::Scalar) continue;
        const Launch launch = make_launch(op, dtype, variant, seed++);
        INFO(std::string(name), " on ", to_string(dtype), ", variant ", variant, ", ", launch.args.ninputs, " inputs");
        compare_with_cpu(
            dev, [&](Backend& be) { return run_elementwise(be, launch); }, exact ? Tol{} : approx(dtype));
      }
    }
  }
}

// Inputs of other dtypes than the computation's are converted on load, and
// outputs on store, as the CPU backend does.
void check_binary_mixed_dtypes(Backend& dev) {
  const struct {
    BinaryOp op;
    Dtype in0, in1, out;
  } cases[] = {
      {BinaryOp::Add, kFloat32, kFloat32, kFloat16}, {BinaryOp::Mul, kFloat16, kFloat64, kFloat32},
      {BinaryOp::Lt, kFloat16, kFloat32, kBool},     {BinaryOp::Sub, kInt64, kFloat32, kFloat64},
      {BinaryOp::Eq, kInt64, kInt64, kFloat32},      {BinaryOp::Copy, kFloat64, kFloat64, kBFloat16}};
  for (const auto& c : cases) {
    Launch launch = make_launch(c.op, c.in0, 1, 5);
    launch.args.out_dtype = c.out;
    launch.inputs[0] = random_host(c.in0, launch.inputs[0].n, 11);
    if (launch.args.ninputs > 1) {
      launch.inputs[1] = random_host(c.in1, launch.inputs[1].n, 12);
      launch.args.inputs[1].dtype = c.in1;
    }
    INFO(name_of(c.op), " of ", to_string(c.in0), " and ", to_string(c.in1), " into ", to_string(c.out));
    const std::string diff = mismatch(run_elementwise(dev, launch), run_elementwise(cpu(), launch), Tol{});
    CHECK_MESSAGE(diff.empty(), diff);
  }
}

}  // namespace

TEST_CASE("thrust-host backend: binary and ternary ops match the CPU backend") {
  if (Backend* dev = thrust_host()) {
    check_binary_all(*dev);
    check_binary_mixed_dtypes(*dev);
  }
}

TEST_CASE("cuda device: binary and ternary ops match the CPU backend") {
  if (Backend* dev = gpu()) {
    check_binary_all(*dev);
    check_binary_mixed_dtypes(*dev);
  }
}

namespace {

// ---- fill and cast ----------------------------------------------------------

void check_fill(Backend& dev) {
  const C values[] = {C(2.5), C(-1.0), C(0.0), C(1.5, -2.0), C(1e10), C(NAN), C(-INFINITY), C(3e-39)};
  for (Dtype dtype : kAllDtypes) {
    for (C v : values) {
      if (is_integral(dtype, true) && !std::isfinite(v.real())) continue;  // undefined conversion
      Host want(dtype, 33), got(dtype, 33);
      cpu().fill(want.data(), dtype, 33, v);
      DeviceBuffer buf(dev, dtype, 33);
      dev.fill(buf.get(), dtype, 33, v);
      INFO("fill ", to_string(dtype), " with ", v);
      const std::string diff = mismatch(buf.download(), want, Tol{});
      CHECK_MESSAGE(diff.empty(), diff);
    }
  }
}

void check_cast_all(Backend& dev) {
  for (Dtype from : kAllDtypes) {
    for (Dtype to : kAllDtypes) {
      // Non-finite or out-of-range floats have no defined int64 value.
      const Host in = random_host(from, 77, 300 + static_cast<int>(from),
                                  to == kInt64 ? Values::Finite : Values::General);
      Host want(to, in.n);
      cpu().cast(in.data(), from, want.data(), to, in.n);
      DeviceBuffer x(dev, in), out(dev, to, in.n);
      dev.cast(x.get(), from, out.get(), to, in.n);
      INFO("cast ", to_string(from), " -> ", to_string(to));
      const std::string diff = mismatch(out.download(), want, Tol{});
      CHECK_MESSAGE(diff.empty(), diff);
    }
  }
}

}  // namespace

TEST_CASE("thrust-host backend: fill and cast match the CPU backend") {
  if (Backend* dev = thrust_host()) {
    check_fill(*dev);
    check_cast_all(*dev);
  }
}

TEST_CASE("cuda device: fill and cast match the CPU backend") {
  if (Backend* dev = gpu()) {
    check_fill(*dev);
    check_cast_all(*dev);
  }
}

TEST_CASE("thrust-host backend: invalid launches raise the CPU backend's error types") {
  Backend* dev = thrust_host();
  if (dev == nullptr) return;
  SUBCASE("an op that does not exist for the dtype") {
    Launch launch = make_launch(BinaryOp::Add, kComplex64, 0, 1);
    launch.op = BinaryOp::Atan2;
    CHECK_THROWS_WITH_AS(run_elementwise(*dev, launch),
                         doctest::Contains("atan2: not implemented for torch.complex64"),
                         NotImplementedError);
    const Host in = random_host(kBool, 4, 1);
    CHECK_THROWS_WITH_AS(run_unary(*dev, UnaryOp::Exp, in, kBool), doctest::Contains("exp: not implemented"),
                         NotImplementedError);
  }
  SUBCASE("a wrong number of inputs") {
    Launch launch = make_launch(BinaryOp::Mul, kFloat32, 0, 1);
    launch.args.ninputs = 3;
    launch.inputs.push_back(launch.inputs[0]);
    CHECK_THROWS_WITH_AS(run_elementwise(*dev, launch), doctest::Contains("mul: invalid number of inputs 3"),
                         ValueError);
  }
  SUBCASE("sizes that do not multiply to numel") {
    Launch launch = make_launch(BinaryOp::Mul, kFloat32, 0, 1);
    launch.args.numel = 100;
    CHECK_THROWS_WITH_AS(run_elementwise(*dev, launch), doctest::Contains("does not match the product"),
                         ValueError);
  }
  SUBCASE("integer remainder by zero") {
    Launch launch = make_launch(BinaryOp::Remainder, kInt64, 0, 1);
    launch.inputs[1] = host_of(std::vector<C>(120, C(0.0)), kInt64);
    CHECK_THROWS_WITH_AS(run_elementwise(*dev, launch), doctest::Contains("ZeroDivisionError"), RuntimeError);
  }
}

TEST_CASE("cuda device: memory, transfers and device copies") {
  Backend* dev = gpu();
  if (dev == nullptr) return;
  CHECK(dev->type() == kCUDA);
  CHECK(dev->allocate(0, 0) == nullptr);
  CHECK_THROWS_WITH_AS(dev->allocate(16, cuda::device_count()), doctest::Contains("invalid device index"),
                       DeviceError);
  const Host in = random_host(kFloat64, 1000, 9);
  DeviceBuffer a(*dev, in), b(*dev, kFloat64, 1000);
  dev->copy(b.get(), a.get(), in.bytes.size());
  CHECK(b.download().bytes == in.bytes);
  // Partial copies at byte offsets, as cat/narrow issue them.
  Host part(kFloat64, 10);
  dev->copy_to_host(part.data(), static_cast<const double*>(b.get()) + 990, 10 * sizeof(double));
  CHECK(std::memcmp(part.data(), in.bytes.data() + 990 * sizeof(double), 10 * sizeof(double)) == 0);
  // Work queued on the device completes before a synchronize returns.
  dev->fill(b.get(), kFloat64, 1000, 4.0);
  dev->synchronize();
  CHECK(values_of(b.download())[999] == C(4.0));
}
