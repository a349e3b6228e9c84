#pragma once
// Helpers for testing the CUDA backend's kernels against the CPU backend on
// the same inputs: host arrays of any dtype, seeded random values with
// special values mixed in, device buffers, a NaN- and signed-zero-aware
// comparison, and runners that launch one kernel on any backend.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../devices/cuda/thrust_host_backend.h"
#include "descent/devices/backend.h"
#include "descent/devices/device.h"
#include "descent/error.h"

namespace descent::testing {

using C = std::complex<double>;

inline Backend& cpu() { return backend_for(kCPU); }

// A host-side array of any dtype.
struct Host {
  Dtype dtype = kFloat32;
  int64_t n = 0;
  std::vector<unsigned char> bytes;

  Host() = default;
  Host(Dtype d, int64_t count)
      : dtype(d), n(count), bytes(static_cast<std::size_t>(count) * element_size(d)) {}
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }
};

inline Host cast_host(const Host& h, Dtype to) {
  Host r(to, h.n);
  if (h.n > 0) cpu().cast(h.data(), h.dtype, r.data(), to, h.n);
  return r;
}

inline std::vector<C> values_of(const Host& h) {
  const Host c = cast_host(h, kComplex128);
  std::vector<C> v(static_cast<std::size_t>(h.n));
  if (h.n > 0) std::memcpy(v.data(), c.data(), c.bytes.size());
  return v;
}

inline Host host_of(const std::vector<C>& v, Dtype dtype) {
  Host c(kComplex128, static_cast<int64_t>(v.size()));
  if (!v.empty()) std::memcpy(c.data(), v.data(), c.bytes.size());
  return cast_host(c, dtype);
}

enum class Values {
  General,     // [-3, 3] with zeros, infinities and NaN mixed in (integers: [-10, 10])
  Finite,      // [-3, 3]
  NearOne,     // [0.5, 1.5], for products
  NonzeroInt,  // integers without 0, for integer remainder
};

inline Host random_host(Dtype dtype, int64_t n, unsigned seed, Values kind = Values::General) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> real(-3.0, 3.0), near_one(0.5, 1.5);
  std::uniform_int_distribution<int> integer(-10, 10), bit(0, 1);
  const double specials[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e-6, 1e4};
  const bool integral = is_integral(dtype, true);
  std::vector<C> v(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto draw = [&]() -> double {
      if (dtype == kBool) return bit(rng);
      if (integral) {
        const int x = integer(rng);
        return kind == Values::NonzeroInt && x == 0 ? 7 : x;
      }
      if (kind == Values::NearOne) return near_one(rng);
      if (kind == Values::General && rng() % 7 == 0) return specials[rng() % 7];
      return real(rng);
    };
    const double re = draw();
    // Complex factors near 1 in magnitude keep long products finite.
    const double im = kind == Values::NearOne ? 0.5 * (near_one(rng) - 1.0) : draw();
    v[i] = is_complex(dtype) ? C(re, im) : C(re, 0.0);
  }
  return host_of(v, dtype);
}

// Memory on a backend's device, freed on scope exit.
class DeviceBuffer {
 public:
  DeviceBuffer(Backend& be, Dtype dtype, int64_t n)
      : be_(be),
        dtype_(dtype),
        n_(n),
        ptr_(be.allocate(static_cast<std::size_t>(n) * element_size(dtype), 0)) {}
  DeviceBuffer(Backend& be, const Host& h) : DeviceBuffer(be, h.dtype, h.n) {
    if (!h.bytes.empty()) be.copy_from_host(ptr_, h.data(), h.bytes.size());
  }
  ~DeviceBuffer() { be_.deallocate(ptr_, 0); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  Host download() const {
    Host h(dtype_, n_);
    be_.synchronize();
    if (!h.bytes.empty()) be_.copy_to_host(h.data(), ptr_, h.bytes.size());
    return h;
  }

 private:
  Backend& be_;
  Dtype dtype_;
  int64_t n_;
  void* ptr_;
};

// Tolerance of a comparison: exact, or |got - want| <= rtol * |want| + atol.
struct Tol {
  double rtol = 0.0, atol = 0.0;
  bool exact() const { return rtol == 0.0 && atol == 0.0; }
};

// Roughly four ulps of the dtype: what transcendental functions of different
// libraries (glibc, CUDA's libdevice, thrust::complex) may disagree by.
inline Tol approx(Dtype dtype) {
  switch (to_real_dtype(dtype)) {
    case kFloat16:
      return {2e-3, 1e-5};
    case kBFloat16:
      return {1.6e-2, 1e-4};
    case kFloat64:
      return {1e-13, 1e-300};
    default:
      return {1e-5, 1e-30};
  }
}

inline bool same_bits(double got, double want) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want);
  return got == want && std::signbit(got) == std::signbit(want);
}

// Within tolerance: NaN and infinities must appear in the same components;
// the finite rest is compared as one complex number, so a small component
// of a large value is judged against the value's magnitude.
inline bool close(C got, C want, const Tol& tol) {
  if (tol.exact()) return same_bits(got.real(), want.real()) && same_bits(got.imag(), want.imag());
  const double g[2] = {got.real(), got.imag()}, w[2] = {want.real(), want.imag()};
  double gf[2], wf[2];
  for (int i = 0; i < 2; ++i) {
    if (std::isnan(g[i]) != std::isnan(w[i])) return false;
    if ((std::isinf(g[i]) || std::isinf(w[i])) && g[i] != w[i]) return false;
    gf[i] = std::isfinite(g[i]) ? g[i] : 0.0;
    wf[i] = std::isfinite(w[i]) ? w[i] : 0.0;
  }
  return std::abs(C(gf[0], gf[1]) - C(wf[0], wf[1])) <= tol.rtol * std::abs(C(wf[0], wf[1])) + tol.atol;
}

// Empty when got matches want, else a description of the first mismatch.
inline std::string mismatch(const Host& got, const Host& want, const Tol& tol) {
  if (got.dtype != want.dtype || got.n != want.n) return "dtype or size differ";
  const std::vector<C> g = values_of(got), w = values_of(want);
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (close(g[i], w[i], tol)) continue;
    std::ostringstream out;
    out.precision(17);
    out << "element " << i << " of " << g.size() << ": got " << g[i] << ", expected " << w[i];
    return out.str();
  }
  return {};
}

inline constexpr Dtype kAllDtypes[] = {kBool,    kInt64,   kFloat16,   kBFloat16,
                                       kFloat32, kFloat64, kComplex64, kComplex128};

// The thrust-host backend, or null (with a visible message) when descent
// was built without Thrust.
inline Backend* thrust_host() {
  try {
    return &detail::thrust_host_backend();
  } catch (const NotImplementedError& e) {
    MESSAGE("skipped: ", e.what());
    return nullptr;
  }
}

// The GPU, or null (with a visible message) on machines without one.
inline Backend* gpu() {
  if (!cuda::is_available()) {
    MESSAGE("skipped: no CUDA GPU available (cuda::device_count() == ", cuda::device_count(), ")");
    return nullptr;
  }
  return &backend_for(kCUDA);
}

// ---- kernel runners: one launch on any backend, results copied back ---------

inline Host run_unary(Backend& be, UnaryOp op, const Host& in, Dtype out_dtype) {
  DeviceBuffer x(be, in), out(be, out_dtype, in.n);
  be.unary(op, in.dtype, x.get(), out.get(), out_dtype, in.n);
  return out.download();
}

struct Launch {
  BinaryOp op;
  ElementwiseArgs args;
  std::vector<Host> inputs;  // one per input; unused for scalar operands
};

inline Host run_elementwise(Backend& be, const Launch& launch) {
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

inline Host run_matmul(Backend& be, const Host& a, const Host& c, int64_t batch, int64_t m, int64_t k,
                       int64_t n, bool ba, bool bc) {
  DeviceBuffer x(be, a), y(be, c), out(be, a.dtype, batch * m * n);
  be.matmul(a.dtype, {x.get(), ba ? 0 : m * k, k, 1}, {y.get(), bc ? 0 : k * n, n, 1}, out.get(), batch, m, k, n);
  return out.download();
}

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

inline ReduceResult run_reduce(Backend& be, const Reduction& r, const Host& in) {
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

}  // namespace descent::testing
