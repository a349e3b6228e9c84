// The CUDA backend's reductions, matmul and fused optimizer kernels against
// the CPU backend, on the same random inputs (see test_cuda_backend.cpp for
// how the thrust-host and "cuda device" cases divide the work).
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <utility>
#include <vector>

#include "cuda_backend_testing.h"
#include "devices/optim_math/kernels.h"

using namespace descent;
using namespace descent::testing;

namespace {

// ---- matmul -----------------------------------------------------------------

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

// ---- fused optimizer kernels ------------------------------------------------

// Every kernel of the pointwise list under every flag mask, with and without
// AMP unscaling: the device's buffers equal the CPU backend's bit for bit.
// Every tensor has broadcast operands too (read by the kernels that take
// them), over a [batch, rows, cols] view of its elements.
void check_fused_pointwise(Backend& dev) {
  const std::vector<int64_t> sizes = {37, 0, 1000, 5};
  struct View {
    int64_t batch, rows, cols;
  };
  const std::vector<View> views = {{1, 37, 1}, {1, 0, 1}, {2, 20, 25}, {5, 1, 1}};
  unsigned seed = 9000;
  for (int id = 0;; ++id) {
    unsigned flag_bits = 0;
    if (!optim_math::dispatch_kernel(id, [&](auto math) { flag_bits = decltype(math)::kFlagBits; })) break;
    for (unsigned flags = 0; flags < (1u << flag_bits); ++flags)
      for (float grad_scale : {0.0f, 8.0f})
        for (Dtype dtype : {kFloat32, kFloat64, kFloat16, kBFloat16}) {
          FusedPointwiseArgs args;
          args.kernel = id;
          args.flags = flags;
          // Scalars in (0, 1): weights, decays, eps-like and lr-like values alike.
          for (std::size_t k = 0; k < kMaxFusedScalars; ++k) args.scalars[k] = 0.05 + 0.1 * static_cast<double>(k);
          std::vector<Host> buffers;
          for (std::size_t t = 0; t < sizes.size(); ++t) {
            const int64_t n = sizes[t];
            const View& v = views[t];
            buffers.push_back(random_host(dtype, n, seed++, Values::Finite));  // param
            buffers.push_back(random_host(dtype, n, seed++, Values::Finite));  // grad
            for (std::size_t k = 0; k < kMaxFusedState; ++k)
              buffers.push_back(random_host(dtype, n, seed++, Values::NearOne));
            buffers.push_back(random_host(dtype, v.batch * v.rows, seed++, Values::NearOne));  // row
            buffers.push_back(random_host(dtype, v.batch * v.cols, seed++, Values::NearOne));  // col
            buffers.push_back(random_host(dtype, v.batch, seed++, Values::NearOne));           // matrix
          }
          auto run = [&](Backend& be) {
            std::vector<std::unique_ptr<DeviceBuffer>> device;
            for (const Host& h : buffers) device.push_back(std::make_unique<DeviceBuffer>(be, h));
            const DeviceBuffer scale(be, host_of({C(grad_scale)}, kFloat32));
            FusedPointwiseArgs a = args;
            if (grad_scale != 0.0f) a.amp.grad_scale = static_cast<const float*>(scale.get());
            std::vector<FusedTensor> tensors;
            const std::size_t per = 2 + kMaxFusedState + 3;
            for (std::size_t t = 0; t < sizes.size(); ++t) {
              FusedTensor ft;
              ft.param = device[per * t]->get();
              ft.grad = device[per * t + 1]->get();
              for (std::size_t k = 0; k < kMaxFusedState; ++k) ft.state[k] = device[per * t + 2 + k]->get();
              const std::size_t b = per * t + 2 + kMaxFusedState;
              ft.broadcast = {device[b]->get(), device[b + 1]->get(), device[b + 2]->get(), views[t].rows,
                              views[t].cols};
              ft.numel = sizes[t];
              for (std::size_t k = 0; k < kMaxFusedTensorScalars; ++k)
                ft.scalars[k] = -0.01 * static_cast<double>(k + 1 + t);
              tensors.push_back(ft);
            }
            be.fused_pointwise(dtype, tensors, a);
            std::vector<Host> out;
            for (const auto& d : device) out.push_back(d->download());
            return out;
          };
          const std::vector<Host> got = run(dev), want = run(cpu());
          for (std::size_t b = 0; b < got.size(); ++b) {
            INFO("kernel ", id, " flags ", flags, " grad_scale ", grad_scale, " on ", to_string(dtype), ", buffer ", b);
            const std::string diff = mismatch(got[b], want[b], Tol{});
            CHECK_MESSAGE(diff.empty(), diff);
          }
        }
  }
  FusedPointwiseArgs unknown;
  unknown.kernel = 1000;
  CHECK_THROWS_WITH_AS(dev.fused_pointwise(kFloat32, {}, unknown), doctest::Contains("unknown kernel id 1000"),
                       ValueError);
  CHECK_THROWS_WITH_AS(dev.fused_pointwise(kInt64, {}, {}), doctest::Contains("floating point params only"),
                       TypeError);
}

// The same kernels over touched rows only (fused_pointwise_rows): two
// tables of several rows, a few of them touched, every buffer (untouched
// rows included) equal to the CPU backend's bit for bit.
void check_fused_pointwise_rows(Backend& dev) {
  struct Table {
    int64_t rows, row_size;
    std::vector<int64_t> touched;
  };
  const std::vector<Table> tables = {{10, 7, {8, 0, 3}}, {5, 1, {4}}, {3, 4, {}}};
  unsigned seed = 12000;
  for (int id = 0;; ++id) {
    unsigned flag_bits = 0;
    bool broadcast = false;
    if (!optim_math::dispatch_kernel(id, [&](auto math) {
          flag_bits = decltype(math)::kFlagBits;
          broadcast = optim_math::kReadsBroadcast<decltype(math)>;
        }))
      break;
    if (broadcast) {
      // Rows have no [batch, rows, cols] view to broadcast over.
      FusedPointwiseArgs args;
      args.kernel = id;
      CHECK_THROWS_WITH_AS(dev.fused_pointwise_rows(kFloat32, {}, args), doctest::Contains("broadcast operands"),
                           ValueError);
      continue;
    }
    for (unsigned flags = 0; flags < (1u << flag_bits); ++flags)
      for (Dtype dtype : {kFloat32, kFloat64, kFloat16, kBFloat16}) {
        FusedPointwiseArgs args;
        args.kernel = id;
        args.flags = flags;
        for (std::size_t k = 0; k < kMaxFusedScalars; ++k) args.scalars[k] = 0.05 + 0.1 * static_cast<double>(k);
        std::vector<Host> buffers;  // per table: param, values, rows (int64), state...
        for (const Table& t : tables) {
          const int64_t n = t.rows * t.row_size, nnz = static_cast<int64_t>(t.touched.size());
          buffers.push_back(random_host(dtype, n, seed++, Values::Finite));
          buffers.push_back(random_host(dtype, nnz * t.row_size, seed++, Values::Finite));
          std::vector<C> rows;
          for (int64_t r : t.touched) rows.emplace_back(static_cast<double>(r));
          buffers.push_back(host_of(rows, kInt64));
          for (std::size_t k = 0; k < kMaxFusedState; ++k) buffers.push_back(random_host(dtype, n, seed++, Values::NearOne));
        }
        auto run = [&](Backend& be) {
          std::vector<std::unique_ptr<DeviceBuffer>> device;
          for (const Host& h : buffers) device.push_back(std::make_unique<DeviceBuffer>(be, h));
          std::vector<FusedRows> launch;
          const std::size_t per = 3 + kMaxFusedState;
          for (std::size_t t = 0; t < tables.size(); ++t) {
            FusedRows fr;
            fr.param = device[per * t]->get();
            fr.values = device[per * t + 1]->get();
            fr.rows = static_cast<const int64_t*>(device[per * t + 2]->get());
            for (std::size_t k = 0; k < kMaxFusedState; ++k) fr.state[k] = device[per * t + 3 + k]->get();
            fr.nrows = static_cast<int64_t>(tables[t].touched.size());
            fr.row_size = tables[t].row_size;
            for (std::size_t k = 0; k < kMaxFusedTensorScalars; ++k)
              fr.scalars[k] = -0.01 * static_cast<double>(k + 1 + t);
            launch.push_back(fr);
          }
          be.fused_pointwise_rows(dtype, launch, args);
          std::vector<Host> out;
          for (const auto& d : device) out.push_back(d->download());
          return out;
        };
        const std::vector<Host> got = run(dev), want = run(cpu());
        for (std::size_t b = 0; b < got.size(); ++b) {
          INFO("kernel ", id, " flags ", flags, " on ", to_string(dtype), ", buffer ", b);
          const std::string diff = mismatch(got[b], want[b], Tol{});
          CHECK_MESSAGE(diff.empty(), diff);
        }
      }
  }
  FusedPointwiseArgs unknown;
  unknown.kernel = 1000;
  CHECK_THROWS_WITH_AS(dev.fused_pointwise_rows(kFloat32, {}, unknown), doctest::Contains("unknown kernel id 1000"),
                       ValueError);
}

}  // namespace

TEST_CASE("thrust-host backend: matmul matches the CPU backend") {
  if (Backend* dev = thrust_host()) check_matmul(*dev);
}

TEST_CASE("thrust-host backend: reductions over any dims match the CPU backend") {
  if (Backend* dev = thrust_host()) {
    check_reduce_all(*dev);
    check_reduce_converting(*dev);
  }
}

TEST_CASE("cuda device: matmul and reductions match the CPU backend") {
  if (Backend* dev = gpu()) {
    check_matmul(*dev);
    check_reduce_all(*dev);
    check_reduce_converting(*dev);
  }
}

TEST_CASE("thrust-host backend: fused optimizer kernels match the CPU backend bit for bit") {
  if (Backend* dev = thrust_host()) {
    check_fused_pointwise(*dev);
  }
}

TEST_CASE("cuda device: fused optimizer kernels match the CPU backend bit for bit") {
  if (Backend* dev = gpu()) {
    check_fused_pointwise(*dev);
  }
}

TEST_CASE("thrust-host backend: fused kernels over sparse rows match the CPU backend bit for bit") {
  if (Backend* dev = thrust_host()) check_fused_pointwise_rows(*dev);
}

TEST_CASE("cuda device: fused kernels over sparse rows match the CPU backend bit for bit") {
  if (Backend* dev = gpu()) check_fused_pointwise_rows(*dev);
}

TEST_CASE("thrust-host backend: reductions and matmul raise the CPU backend's error types") {
  Backend* dev = thrust_host();
  if (dev == nullptr) return;
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
