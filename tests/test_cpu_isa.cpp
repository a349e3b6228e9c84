// The CPU fused optimizer kernels are compiled once per instruction set and
// one is chosen at run time (devices/cpu/cpu_isa.h). Every set this CPU runs
// must give the baseline's bits, for every fused kernel, config and dtype,
// and the baseline the forloop's where the fused kernel runs its op sequence.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <random>

#include "descent/devices/half.h"
#include "descent/devices/parallel.h"
#include "descent/optim/registry.h"
#include "devices/cpu/cpu_isa.h"
#include "devices/optim_math/kernels.h"
#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;
using cpu_fused::CpuIsa;

namespace {

// Restores the chosen set when a test case ends, whatever it forced.
struct IsaGuard {
  CpuIsa saved = cpu_fused::active_isa();
  ~IsaGuard() { cpu_fused::set_active_isa(saved); }
};

// Equal bit patterns, not just equal values (-0 and 0 differ).
std::string bits_mismatch(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype() || actual.sizes() != expected.sizes()) return "dtype or shape differ";
  Tensor a = actual.detach().contiguous(), e = expected.detach().contiguous();
  if (std::memcmp(a.data_ptr(), e.data_ptr(), static_cast<std::size_t>(a.nbytes())) == 0) return {};
  return mismatch(a, e, {0, 0});
}

// Params then every state tensor, in the optimizer's key order, after three
// steps on params whose sizes leave a vector tail (1031 and 37 x 19 elements).
std::vector<Tensor> run_steps(const OptimizerInfo& info, Dict config, Dtype dtype, bool fused) {
  config.set("foreach", false);
  config.set("fused", fused);
  Generator gen(3);
  std::vector<Tensor> params;
  for (const Shape& s : {Shape{1031}, Shape{37, 19}})
    params.push_back(randn(shape_for(info, s), {.dtype = kFloat64}, &gen).to(dtype).requires_grad_());
  params = params_for(info, params);
  auto opt = make(info, Params(params), config);
  for (int i = 0; i < 3; ++i) {
    for (Tensor& p : params) p.set_grad(randn(p.sizes(), {.dtype = kFloat64}, &gen).to(dtype));
    opt->step();
  }
  std::vector<Tensor> out;
  for (const Tensor& p : params) {
    out.push_back(p.detach().clone());
    if (const Dict* state = opt->state().find(p))
      for (const auto& [key, value] : *state)
        if (value.is_tensor()) out.push_back(value.to_tensor().detach().clone());
  }
  return out;
}

// The raw arrays of one kernel launch: param, grad and three state arrays of
// n elements, filled from one seed with values in [0.05, 0.95) (the state
// stays positive, as second moments and step sizes are).
struct LaunchArrays {
  std::vector<std::vector<unsigned char>> arrays;
  LaunchArrays(Dtype dtype, int64_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> value(0.05, 0.95);
    const std::size_t size = element_size(dtype);
    for (int a = 0; a < 5; ++a) {
      std::vector<unsigned char> bytes(static_cast<std::size_t>(n) * size);
      for (int64_t i = 0; i < n; ++i) {
        const double v = a == 1 ? value(rng) - 0.5 : value(rng);  // grads of both signs
        unsigned char* at = bytes.data() + static_cast<std::size_t>(i) * size;
        switch (dtype) {
          case kFloat32: { float f = static_cast<float>(v); std::memcpy(at, &f, size); break; }
          case kFloat64: std::memcpy(at, &v, size); break;
          case kFloat16: { Half h(static_cast<float>(v)); std::memcpy(at, &h, size); break; }
          default: { BFloat16 h(static_cast<float>(v)); std::memcpy(at, &h, size); break; }
        }
      }
      arrays.push_back(std::move(bytes));
    }
  }
  FusedTensor tensor(int64_t n, const std::array<double, kMaxFusedTensorScalars>& scalars) {
    return {arrays[0].data(), arrays[1].data(), {arrays[2].data(), arrays[3].data(), arrays[4].data()}, n, scalars};
  }
};

void check_same_bits(const std::vector<Tensor>& actual, const std::vector<Tensor>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t k = 0; k < actual.size(); ++k) {
    INFO("tensor ", k, " (params, then each param's state)");
    const std::string diff = bits_mismatch(actual[k], expected[k]);
    CHECK_MESSAGE(diff.empty(), diff);
  }
}

}  // namespace

TEST_CASE("the baseline instruction set is always available and listed first") {
  const std::vector<CpuIsa> isas = cpu_fused::available_isas();
  REQUIRE(!isas.empty());
  CHECK(isas.front() == CpuIsa::baseline);
  std::printf("fused kernels: instruction sets %zu available, active %s\n", isas.size(),
              cpu_fused::to_string(cpu_fused::active_isa()));
}

TEST_CASE("every fused kernel gives the baseline's bits under each instruction set") {
  IsaGuard guard;
  int compared = 0;
  for (const OptimizerInfo& info : optim_db()) {
    if (!info.supports("fused")) continue;
    for (Dtype dtype : info.fused_dtypes)
      for (const Dict& config : info.optim_inputs(dtype)) {
        if (flag_on(config, "capturable")) continue;
        INFO(info.name, " ", describe(config), " ", to_string(dtype));
        cpu_fused::set_active_isa(CpuIsa::baseline);
        const std::vector<Tensor> reference = run_steps(info, config, dtype, true);
        if (info.fused_bitwise && (dtype == kFloat32 || dtype == kFloat64)) {
          INFO("baseline fused vs forloop");
          check_same_bits(reference, run_steps(info, config, dtype, false));
        }
        for (CpuIsa isa : cpu_fused::available_isas()) {
          if (isa == CpuIsa::baseline) continue;
          INFO("instruction set ", cpu_fused::to_string(isa));
          cpu_fused::set_active_isa(isa);
          check_same_bits(run_steps(info, config, dtype, true), reference);
          ++compared;
        }
      }
  }
  if (cpu_fused::available_isas().size() > 1) CHECK(compared > 0);
}

// Below the optimizers: every kernel id and flag mask in each dtype, with and
// without AMP unscaling, on arrays with a vector tail; the scalars are
// arbitrary values, the same for every instruction set.
TEST_CASE("every fused kernel and flag mask gives the baseline's bits under each instruction set") {
  IsaGuard guard;
  constexpr int64_t n = 1000 + 37;
  int launches = 0;
  for (int id = 0;; ++id) {
    unsigned flag_bits = 0;
    if (!optim_math::dispatch_kernel(id, [&](auto math) { flag_bits = decltype(math)::kFlagBits; })) break;
    for (unsigned mask = 0; mask < (1u << flag_bits); ++mask)
      for (Dtype dtype : {kFloat32, kFloat64, kFloat16, kBFloat16})
        for (bool unscale : {false, true}) {
          INFO("kernel ", id, " flags ", mask, " ", to_string(dtype), unscale ? " unscaled" : "");
          std::mt19937 rng(id * 100 + mask);
          std::uniform_real_distribution<double> value(0.05, 0.95);
          FusedPointwiseArgs args{id, mask, {}, {}};
          for (double& h : args.scalars) h = value(rng);
          std::array<double, kMaxFusedTensorScalars> tensor_scalars{};
          for (double& t : tensor_scalars) t = -value(rng);
          const float grad_scale = 4.0f;
          if (unscale) args.amp.grad_scale = &grad_scale;
          auto run = [&](CpuIsa isa) {
            cpu_fused::set_active_isa(isa);
            LaunchArrays arrays(dtype, n, static_cast<unsigned>(id + mask));
            cpu_fused::active_kernels().pointwise(dtype, {arrays.tensor(n, tensor_scalars)}, args);
            return arrays.arrays;
          };
          const auto reference = run(CpuIsa::baseline);
          CHECK(reference != LaunchArrays(dtype, n, static_cast<unsigned>(id + mask)).arrays);  // it wrote
          for (CpuIsa isa : cpu_fused::available_isas()) {
            INFO("instruction set ", cpu_fused::to_string(isa));
            CHECK(run(isa) == reference);
            ++launches;
          }
        }
  }
  CHECK(launches > 0);
}

// The rows kernel: SparseAdam and Adagrad step the touched rows of a sparse grad.
TEST_CASE("the fused rows kernel gives the baseline's bits under each instruction set") {
  IsaGuard guard;
  for (const char* name : {"SparseAdam", "Adagrad"})
    for (Dtype dtype : {kFloat32, kFloat64}) {
      INFO(name, " ", to_string(dtype));
      auto run = [&] {
        Generator gen(5);
        Tensor table = randn({300, 37}, {.dtype = kFloat64}, &gen).to(dtype);
        auto opt = optim::make_optimizer(name, optim::Params{table}, Dict{});
        for (int i = 0; i < 3; ++i) {
          std::vector<int64_t> rows;
          for (int64_t r = i; r < 300; r += 7) rows.push_back(r);
          const auto nnz = static_cast<int64_t>(rows.size());
          table.set_grad(sparse_coo_tensor(tensor(rows, {1, nnz}),
                                           randn({nnz, 37}, {.dtype = kFloat64}, &gen).to(dtype), {300, 37}, true));
          opt->step();
        }
        std::vector<Tensor> out{table.detach().clone()};
        for (const auto& [key, value] : *opt->state().find(table))
          if (value.is_tensor()) out.push_back(value.to_tensor().detach().clone());
        return out;
      };
      cpu_fused::set_active_isa(CpuIsa::baseline);
      const std::vector<Tensor> reference = run();
      for (CpuIsa isa : cpu_fused::available_isas()) {
        INFO("instruction set ", cpu_fused::to_string(isa));
        cpu_fused::set_active_isa(isa);
        check_same_bits(run(), reference);
      }
    }
}

// matmul's variants sum in their own order (FMA, wider registers), so they
// are compared with a float64 product, not bit for bit; each gives the same
// bits for any thread count. Shapes over the 256 output tile, operands in
// both storage orders, a batch with a broadcast operand.
TEST_CASE("matmul under each instruction set matches a float64 product and ignores the thread count") {
  IsaGuard guard;
  const int original = get_num_threads();
  Generator gen(5);
  const Tensor a = randn({2, 300, 70}, {.dtype = kFloat64}, &gen), b = randn({70, 290}, {.dtype = kFloat64}, &gen);
  const Tensor bt = randn({290, 70}, {.dtype = kFloat64}, &gen);
  const Tensor expected = a.matmul(b), expected_t = a.matmul(bt.t());
  const auto as_float64 = [](const Tensor& t) { return t.is_complex() ? t.real().to(kFloat64) : t.to(kFloat64); };
  for (CpuIsa isa : cpu_fused::available_isas())
    for (Dtype dtype : {kFloat32, kFloat64, kComplex64, kComplex128, kFloat16, kBFloat16}) {
      INFO(cpu_fused::to_string(isa), " ", to_string(dtype));
      cpu_fused::set_active_isa(isa);
      const bool reduced = dtype == kFloat16 || dtype == kBFloat16, single = dtype == kFloat32 || dtype == kComplex64;
      const double tol = reduced ? 5e-2 : single ? 1e-5 : 1e-12;
      const Tensor x = a.to(dtype), y = b.to(dtype), yt = bt.to(dtype);
      set_num_threads(1);
      const Tensor one = x.matmul(y), one_t = x.matmul(yt.t());
      CHECK(allclose(as_float64(one), expected, tol, tol * 10));
      CHECK(allclose(as_float64(one_t), expected_t, tol, tol * 10));
      set_num_threads(2);
      CHECK(equal(x.matmul(y), one));
      CHECK(equal(x.matmul(yt.t()), one_t));
    }
  set_num_threads(original);
}

// The backend sends only floating-point and complex products to the kernel;
// one sent anything else raises rather than leave the output unwritten.
TEST_CASE("each instruction set's matmul kernel raises for a dtype it has no product for") {
  IsaGuard guard;
  const int64_t one = 1;
  int64_t out = 0;
  const MatmulOperand operand{&one, 0, 1, 1};
  for (CpuIsa isa : cpu_fused::available_isas()) {
    INFO(cpu_fused::to_string(isa));
    cpu_fused::set_active_isa(isa);
    for (Dtype dtype : {kInt64, kBool})
      CHECK_THROWS_WITH_AS(cpu_fused::active_kernels().matmul(dtype, operand, operand, &out, 1, 1, 1, 1),
                           ("matmul: not implemented for " + to_string(dtype)).c_str(), NotImplementedError);
  }
}

// The elementwise ops run from the same per-set library as the fused loop:
// each op rounds on its own (fma where PyTorch fuses), so every set gives
// the baseline's bits, on contiguous operands with a vector tail, on a
// transposed operand, and with a broadcast one.
TEST_CASE("elementwise ops give the same bits under every instruction set") {
  IsaGuard guard;
  Generator gen(11);
  const Tensor a64 = randn({1031}, {.dtype = kFloat64}, &gen), b64 = randn({1031}, {.dtype = kFloat64}, &gen);
  const Tensor c64 = rand({1031}, {.dtype = kFloat64}, &gen).add(0.5), m64 = randn({19, 37}, {.dtype = kFloat64}, &gen);
  const Tensor row64 = randn({37}, {.dtype = kFloat64}, &gen);
  auto run = [&](Dtype dtype) {
    const Tensor a = a64.to(dtype), b = b64.to(dtype), c = c64.to(dtype), m = m64.to(dtype).t(), row = row64.to(dtype);
    std::vector<Tensor> out{a.add(b, 0.3), a.sub(b, -1.7), a.mul(b), a.div(c), a.addcmul(b, c, 0.1),
                            a.addcdiv(b, c, -0.2), lerp(a, b, 0.3), lerp(a, b, c.sub(0.5)), c.sqrt(), c.rsqrt(),
                            a.exp(), c.log(), a.tanh(), a.sigmoid(), a.reciprocal(), a.square(), a.neg(),
                            c.pow(1.5), m.add(m.t().t(), 2.5), m.mul(row.unsqueeze(1).expand({37, 19}))};
    if (!is_complex(dtype)) {
      out.insert(out.end(), {maximum(a, b), a.clamp(-0.5, 0.5), where(a.gt(b), a, b), a.abs(), a.erf(), a.sin()});
    }
    return out;
  };
  for (Dtype dtype : {kFloat32, kFloat64, kFloat16, kBFloat16, kComplex64, kComplex128}) {
    cpu_fused::set_active_isa(CpuIsa::baseline);
    const std::vector<Tensor> reference = run(dtype);
    for (CpuIsa isa : cpu_fused::available_isas()) {
      INFO(cpu_fused::to_string(isa), " ", to_string(dtype));
      cpu_fused::set_active_isa(isa);
      const std::vector<Tensor> got = run(dtype);
      for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("op ", i);
        CHECK(bits_mismatch(got[i], reference[i]) == "");
      }
    }
  }
}
