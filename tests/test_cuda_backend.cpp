// The CUDA backend's Thrust kernels against the CPU backend, on the same
// random inputs: every op, every dtype, broadcast/strided/scalar operands and
// reductions over many dim sets. Without a GPU the kernels run through the
// thrust-host backend (the same sources compiled for Thrust's CPP system);
// with one, the "cuda device" cases repeat the comparison on the GPU.
#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <utility>

#include "../devices/cuda/thrust_host_backend.h"
#include "backend_compare.h"
#include "descent/devices/device.h"

using namespace descent;
using namespace descent::testing;

namespace {

// The thrust-host backend, or null (with a visible message) when descent
// was built without Thrust.
Backend* thrust_host() {
  try {
    return &detail::thrust_host_backend();
  } catch (const NotImplementedError& e) {
    MESSAGE("skipped: ", e.what());
    return nullptr;
  }
}

// The GPU, or null (with a visible message) on machines without one.
Backend* gpu() {
  if (!cuda::is_available()) {
    MESSAGE("skipped: no CUDA GPU available (cuda::device_count() == ", cuda::device_count(), ")");
    return nullptr;
  }
  return &backend_for(kCUDA);
}

// ---- unary ------------------------------------------------------------------

Host run_unary(Backend& be, UnaryOp op, const Host& in, Dtype out_dtype) {
  DeviceBuffer x(be, in), out(be, out_dtype, in.n);
  be.unary(op, in.dtype, x.get(), out.get(), out_dtype, in.n);
  return out.download();
}

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

// Runs `run` on the device and on the CPU backend and compares; an op the CPU
// rejects as not implemented must be rejected by the device too.
template <class Run>
void compare_with_cpu(Backend& dev, const Run& run, const Tol& tol) {
  Host want;
  try {
    want = run(cpu());
  } catch (const NotImplementedError&) {
    CHECK_THROWS_AS(run(dev), NotImplementedError);
    return;
  }
  const std::string diff = mismatch(run(dev), want, tol);
  CHECK_MESSAGE(diff.empty(), diff);
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
      INFO(name, " on ", to_string(dtype));
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

struct Launch {
  BinaryOp op;
  ElementwiseArgs args;
  std::vector<Host> inputs;  // one per input; unused for scalar operands
};

Host run_elementwise(Backend& be, const Launch& launch) {
  ElementwiseArgs args = launch.args;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers;
  for (int k = 0; k < args.ninputs; ++k) {
    if (args.inputs[k].is_scalar) continue;
    buffers.push_back(std::make_unique<DeviceBuffer>(be, launch.inputs[k]));
    args.inputs[k].data = buffers.back()->get();
  }
  DeviceBuffer out(be, args.out_dtype, args.numel);
  args.out = out.get();
  be.elementwise(launch.op, args);
  return out.download();
}

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

// Complex products are written out alike in both backends, but GCC's
// vectorizer turns the CPU's into fused multiply-adds (its complex-multiply
// pattern ignores -ffp-contract=off), so they may differ in the last bit.
bool binary_exact(BinaryOp op, Dtype dtype) {
  if (op == BinaryOp::Pow || op == BinaryOp::Atan2) return false;
  if (!is_complex(dtype) || writes_bool(op)) return true;
  return op == BinaryOp::Copy || op == BinaryOp::Where || op == BinaryOp::Add || op == BinaryOp::Sub;
}

void check_binary_all(Backend& dev) {
  unsigned seed = 100;
  for (const auto& [op, name] : kBinaryOps) {
    for (Dtype dtype : kAllDtypes) {
      const bool exact = binary_exact(op, dtype);
      for (int variant = 0; variant < 4; ++variant) {
        if (op == BinaryOp::Copy && kVariants[variant][0] == Shape::Scalar) continue;
        const Launch launch = make_launch(op, dtype, variant, seed++);
        INFO(name, " on ", to_string(dtype), ", variant ", variant, ", ", launch.args.ninputs, " inputs");
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

// ---- fill, cast, matmul -----------------------------------------------------

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

Host run_matmul(Backend& be, const Host& a, const Host& c, int64_t batch, int64_t m, int64_t k, int64_t n,
                bool ba, bool bc) {
  DeviceBuffer x(be, a), y(be, c), out(be, a.dtype, batch * m * n);
  be.matmul(a.dtype, x.get(), y.get(), out.get(), batch, m, k, n, ba, bc);
  return out.download();
}

void check_matmul(Backend& dev) {
  const int64_t batch = 3, m = 4, k = 17, n = 5;
  for (Dtype dtype : kAllDtypes) {
    if (dtype == kBool) continue;
    for (int broadcast = 0; broadcast < 3; ++broadcast) {
      const bool ba = broadcast == 1, bc = broadcast == 2;
      const Host a = random_host(dtype, (ba ? 1 : batch) * m * k, 400 + broadcast, Values::Finite);
      const Host c = random_host(dtype, (bc ? 1 : batch) * k * n, 500 + broadcast, Values::Finite);
      // Sums of k products in another order: a few roundings of the largest partial sums apart.
      const Tol tol = dtype == kInt64 ? Tol{} : Tol{approx(dtype).rtol, approx(dtype).rtol * k * 9};
      INFO("matmul ", to_string(dtype), " broadcast ", broadcast);
      const std::string diff = mismatch(run_matmul(dev, a, c, batch, m, k, n, ba, bc),
                                        run_matmul(cpu(), a, c, batch, m, k, n, ba, bc), tol);
      CHECK_MESSAGE(diff.empty(), diff);
    }
  }
}

// ---- reductions -------------------------------------------------------------

// Indexed by ReduceOp.
constexpr const char* kReduceNames[] = {"sum",      "mean",   "max", "min", "norm2",
                                        "norm_inf", "norm_p", "all", "any", "prod"};

struct Reduction {
  ReduceOp op;
  Dtype in, out;
  std::vector<int64_t> sizes;
  std::vector<int> dims;
  double p = 2.0;
  bool with_indices = false;
};

struct ReduceResult {
  Host values, indices;
};

ReduceResult run_reduce(Backend& be, const Reduction& r, const Host& in) {
  ReduceArgs a;
  a.op = r.op;
  a.in_dtype = r.in;
  a.out_dtype = r.out;
  a.ndim = static_cast<int>(r.sizes.size());
  a.p = r.p;
  int64_t outputs = 1;
  for (int d = 0; d < a.ndim; ++d) {
    a.sizes[d] = r.sizes[d];
    for (int x : r.dims) a.reduce[d] = a.reduce[d] || x == d;
    if (!a.reduce[d]) outputs *= r.sizes[d];
  }
  DeviceBuffer x(be, in), out(be, r.out, outputs), indices(be, kInt64, outputs);
  a.in = x.get();
  a.out = out.get();
  if (r.with_indices) a.indices = static_cast<int64_t*>(indices.get());
  be.reduce(a);
  return {out.download(), r.with_indices ? indices.download() : Host()};
}

// The CPU backend's result, except for the mean of 16-bit floats: PyTorch
// (2.x) divides their float32 sum before rounding once, which is built here
// from the CPU's float32 sum.
ReduceResult reference_reduce(const Reduction& r, const Host& in) {
  if (r.op != ReduceOp::Mean || (r.out != kFloat16 && r.out != kBFloat16)) return run_reduce(cpu(), r, in);
  Reduction sum = r;
  sum.op = ReduceOp::Sum;
  sum.in = sum.out = kFloat32;
  int64_t count = 1;
  for (int d : r.dims) count *= r.sizes[d];
  std::vector<C> mean = values_of(run_reduce(cpu(), sum, cast_host(in, kFloat32)).values);
  for (C& v : mean) v = C(static_cast<float>(v.real()) / static_cast<float>(count));
  return {cast_host(host_of(mean, kFloat32), r.out), Host()};
}

// Sums in a different order differ by a few roundings of partial sums, each
// at most the sum of magnitudes: tolerance scaled by that, in the
// accumulator's precision, plus one rounding of the output dtype.
Tol reduce_tolerance(const Reduction& r, const Host& in) {
  if (r.op == ReduceOp::Max || r.op == ReduceOp::Min || r.op == ReduceOp::All || r.op == ReduceOp::Any ||
      r.op == ReduceOp::NormInf || is_integral(r.out, true))
    return {};
  double l1 = 0.0;
  for (C v : values_of(in))
    if (std::isfinite(std::abs(v))) l1 += r.op == ReduceOp::NormP2 ? std::norm(v) : std::abs(v);
  const double acc_eps = to_real_dtype(r.out) == kFloat64 ? 0x1p-52 : 0x1p-23;
  const double out_eps = approx(r.out).rtol;
  if (r.op == ReduceOp::Prod) return {out_eps + 64 * acc_eps * static_cast<double>(in.n), 0.0};
  if (r.op == ReduceOp::NormP) return {out_eps + 64 * acc_eps, 64 * acc_eps * std::pow(l1, 1.0 / r.p)};
  return {out_eps, 32 * acc_eps * (l1 + 1.0)};
}

void check_reduction(Backend& dev, const Reduction& r, unsigned seed) {
  int64_t n = 1;
  for (int64_t s : r.sizes) n *= s;
  const Values kind =
      r.op == ReduceOp::Prod ? Values::NearOne
      : r.op == ReduceOp::Max || r.op == ReduceOp::Min || r.op == ReduceOp::All || r.op == ReduceOp::Any
          ? Values::General
          : Values::Finite;
  const Host in = random_host(r.in, n, seed, kind);
  std::ostringstream dims;
  for (int d : r.dims) dims << d << ' ';
  INFO(kReduceNames[static_cast<int>(r.op)], " of ", to_string(r.in), " into ", to_string(r.out), ", dims { ",
       dims.str(), "}, p ", r.p, ", numel ", n);
  const ReduceResult got = run_reduce(dev, r, in), want = reference_reduce(r, in);
  const std::string diff = mismatch(got.values, want.values, reduce_tolerance(r, in));
  CHECK_MESSAGE(diff.empty(), diff);
  if (r.with_indices) {
    const std::string idiff = mismatch(got.indices, want.indices, Tol{});
    CHECK_MESSAGE(idiff.empty(), idiff);
  }
}

// The natural output dtype of a reduction over `in`.
Dtype reduce_out(ReduceOp op, Dtype in) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Prod:
      return is_integral(in, true) ? kInt64 : in;
    case ReduceOp::All:
    case ReduceOp::Any:
      return kBool;
    case ReduceOp::NormP2:
    case ReduceOp::NormInf:
    case ReduceOp::NormP:
      return to_real_dtype(in);
    default:
      return in;
  }
}

bool reduce_applies(ReduceOp op, Dtype in) {
  switch (op) {
    case ReduceOp::Max:
    case ReduceOp::Min:
      return !is_complex(in);
    case ReduceOp::Mean:
    case ReduceOp::NormP2:
    case ReduceOp::NormInf:
    case ReduceOp::NormP:
      return is_floating_point(in) || is_complex(in);
    default:
      return true;
  }
}

void check_reduce_all(Backend& dev) {
  // Shapes and dim sets: full reductions, inner/outer/middle dims, unit dims,
  // and segments long enough for the two-pass (sliced) kernel.
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int>>> cases = {
      {{3, 4, 5, 6}, {0, 1, 2, 3}},
      {{3, 4, 5, 6}, {3}},
      {{3, 4, 5, 6}, {0}},
      {{3, 4, 5, 6}, {1, 2}},
      {{3, 4, 5, 6}, {0, 2}},
      {{3, 4, 5, 6}, {1, 3}},
      {{3, 4, 5, 6}, {0, 1, 2}},
      {{1, 7, 1, 9}, {1, 2}},
      {{2, 700}, {1}},
      {{700, 3}, {0}},
      {{}, {}},
      {{4, 0, 3}, {1}},
      {{5, 3}, {}},
  };
  const ReduceOp ops[] = {ReduceOp::Sum,     ReduceOp::Mean, ReduceOp::Prod, ReduceOp::Max,
                          ReduceOp::Min,     ReduceOp::All,  ReduceOp::Any,  ReduceOp::NormP2,
                          ReduceOp::NormInf, ReduceOp::NormP};
  unsigned seed = 1000;
  for (ReduceOp op : ops) {
    for (Dtype dtype : kAllDtypes) {
      if (!reduce_applies(op, dtype)) continue;
      for (const auto& [sizes, dims] : cases) {
        const bool empty_segment = sizes.size() == 3 && sizes[1] == 0;
        if (empty_segment && (op == ReduceOp::Max || op == ReduceOp::Min)) continue;
        Reduction r{op, dtype, reduce_out(op, dtype), sizes, dims};
        r.with_indices = (op == ReduceOp::Max || op == ReduceOp::Min) && dims.size() == 1;
        if (op == ReduceOp::NormP) r.p = seed % 2 ? 3.0 : 0.0;
        check_reduction(dev, r, seed++);
      }
    }
  }
}

// Output dtypes other than the natural one: sum(dtype=...), mean of float16
// into float32, norms into a wider dtype, counts of a bool mask.
void check_reduce_converting(Backend& dev) {
  const Reduction cases[] = {
      {ReduceOp::Sum, kFloat16, kFloat32, {6, 50}, {1}},
      {ReduceOp::Sum, kBool, kFloat32, {6, 50}, {0}},
      {ReduceOp::Mean, kFloat16, kFloat16, {6, 50}, {1}},
      {ReduceOp::Sum, kFloat32, kBool, {6, 50}, {1}},
      {ReduceOp::NormP2, kFloat32, kFloat64, {6, 50}, {0, 1}},
      {ReduceOp::Sum, kFloat64, kFloat16, {6, 50}, {0}},
      {ReduceOp::NormP, kComplex64, kFloat32, {6, 50}, {1}, 1.5},
      {ReduceOp::Prod, kInt64, kFloat64, {6, 5}, {1}},
  };
  unsigned seed = 5000;
  for (const Reduction& r : cases) check_reduction(dev, r, seed++);
}

}  // namespace

TEST_CASE("thrust-host backend: fill, cast and matmul match the CPU backend") {
  if (Backend* dev = thrust_host()) {
    check_fill(*dev);
    check_cast_all(*dev);
    check_matmul(*dev);
  }
}

TEST_CASE("thrust-host backend: reductions over any dims match the CPU backend") {
  if (Backend* dev = thrust_host()) {
    check_reduce_all(*dev);
    check_reduce_converting(*dev);
  }
}

TEST_CASE("cuda device: fill, cast, matmul and reductions match the CPU backend") {
  if (Backend* dev = gpu()) {
    check_fill(*dev);
    check_cast_all(*dev);
    check_matmul(*dev);
    check_reduce_all(*dev);
    check_reduce_converting(*dev);
  }
}

namespace {

// ---- fused optimizer kernels ------------------------------------------------

struct FusedCase {
  bool adam;
  FusedAdamArgs adam_args;
  FusedSgdArgs sgd_args;
  float grad_scale = 0.0f;  // 0: no AMP unscaling
  bool found_inf = false;
};

// Runs one fused step over tensors of these sizes; returns every buffer
// (param, grad, three states per tensor) afterwards.
std::vector<Host> run_fused(Backend& be, const FusedCase& c, const std::vector<Host>& buffers,
                            const std::vector<int64_t>& sizes) {
  std::vector<std::unique_ptr<DeviceBuffer>> device;
  for (const Host& h : buffers) device.push_back(std::make_unique<DeviceBuffer>(be, h));
  const DeviceBuffer scale(be, host_of({C(c.grad_scale)}, kFloat32));
  const DeviceBuffer found(be, host_of({C(c.found_inf ? 1.0 : 0.0)}, kFloat32));
  const AmpInputs amp{c.grad_scale != 0.0f ? static_cast<const float*>(scale.get()) : nullptr,
                      c.found_inf ? static_cast<const float*>(found.get()) : nullptr};
  std::vector<FusedTensor> tensors;
  for (std::size_t t = 0; t < sizes.size(); ++t) {
    FusedTensor ft;
    ft.param = device[5 * t]->get();
    ft.grad = device[5 * t + 1]->get();
    ft.state = {device[5 * t + 2]->get(), device[5 * t + 3]->get(), device[5 * t + 4]->get()};
    ft.numel = sizes[t];
    ft.step_size = 0.01 / (1.0 - std::pow(0.9, 3 + t));
    ft.bias_correction2_sqrt = std::sqrt(1.0 - std::pow(0.999, 3 + t));
    tensors.push_back(ft);
  }
  const Dtype dtype = buffers[0].dtype;
  if (c.adam) {
    FusedAdamArgs args = c.adam_args;
    args.amp = amp;
    be.fused_adam(dtype, tensors, args);
  } else {
    FusedSgdArgs args = c.sgd_args;
    args.amp = amp;
    be.fused_sgd(dtype, tensors, args);
  }
  std::vector<Host> out;
  for (const auto& d : device) out.push_back(d->download());
  return out;
}

void check_fused(Backend& dev) {
  const std::vector<int64_t> sizes = {37, 0, 1000, 5};
  std::vector<FusedCase> cases;
  cases.push_back({true, {.lr = 0.01}, {}});
  cases.push_back({true, {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true, .maximize = true}, {}});
  cases.push_back({true, {.lr = 0.01, .weight_decay = 0.1, .decoupled_weight_decay = true}, {}, 1024.0f});
  cases.push_back({true, {.lr = 0.01, .amsgrad = true}, {}, 64.0f, true});
  cases.push_back({false, {}, {.lr = 0.1}});
  cases.push_back(
      {false,
       {},
       {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01, .is_first_step = true}});
  cases.push_back({false, {}, {.lr = 0.1, .momentum = 0.9, .nesterov = true, .maximize = true}, 8.0f});
  unsigned seed = 7000;
  for (Dtype dtype : {kFloat32, kFloat64, kFloat16, kBFloat16}) {
    for (std::size_t k = 0; k < cases.size(); ++k) {
      std::vector<Host> buffers;
      for (int64_t n : sizes) {
        buffers.push_back(random_host(dtype, n, seed++, Values::Finite));   // param
        buffers.push_back(random_host(dtype, n, seed++, Values::Finite));   // grad
        buffers.push_back(random_host(dtype, n, seed++, Values::Finite));   // exp_avg / momentum_buffer
        buffers.push_back(random_host(dtype, n, seed++, Values::NearOne));  // exp_avg_sq
        buffers.push_back(random_host(dtype, n, seed++, Values::NearOne));  // max_exp_avg_sq
      }
      const std::vector<Host> got = run_fused(dev, cases[k], buffers, sizes);
      const std::vector<Host> want = run_fused(cpu(), cases[k], buffers, sizes);
      for (std::size_t b = 0; b < got.size(); ++b) {
        INFO(std::string(cases[k].adam ? "fused_adam" : "fused_sgd"), " case ", k, " on ", to_string(dtype),
             ", tensor ", b / 5, " buffer ", b % 5);
        const std::string diff = mismatch(got[b], want[b], Tol{});
        CHECK_MESSAGE(diff.empty(), diff);
      }
    }
  }
  CHECK_THROWS_WITH_AS(dev.fused_sgd(kInt64, {}, {}), doctest::Contains("floating point params only"),
                       TypeError);
}

}  // namespace

TEST_CASE("thrust-host backend: fused optimizer kernels match the CPU backend bit for bit") {
  if (Backend* dev = thrust_host()) check_fused(*dev);
}

TEST_CASE("cuda device: fused optimizer kernels match the CPU backend bit for bit") {
  if (Backend* dev = gpu()) check_fused(*dev);
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
  SUBCASE("reductions the CPU backend rejects") {
    const Host in = random_host(kComplex64, 6, 1);
    CHECK_THROWS_WITH_AS(run_reduce(*dev, {ReduceOp::Max, kComplex64, kComplex64, {6}, {0}}, in),
                         doctest::Contains("max: not implemented for input torch.complex64"),
                         NotImplementedError);
    const Host ints = random_host(kInt64, 6, 1);
    CHECK_THROWS_AS(run_reduce(*dev, {ReduceOp::Mean, kInt64, kInt64, {6}, {0}}, ints), NotImplementedError);
    const Host empty(kFloat32, 0);
    CHECK_THROWS_WITH_AS(run_reduce(*dev, {ReduceOp::Max, kFloat32, kFloat32, {3, 0}, {1}}, empty),
                         doctest::Contains("empty dimension"), IndexError);
  }
  SUBCASE("bool matmul") {
    const Host a = random_host(kBool, 4, 1);
    CHECK_THROWS_WITH_AS(run_matmul(*dev, a, a, 1, 2, 2, 2, false, false),
                         doctest::Contains("matmul: not implemented"), NotImplementedError);
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
