// Run-time choice of the vectorised kernels' instruction set. Only the sets meson
// built (DESCENT_CPU_ISA_<NAME> defined) are referenced, so a build without
// a variant (non-x86, -Dnative_arch=true) links without it.
#include "devices/cpu/cpu_isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "descent/error.h"

namespace descent::cpu_fused {

namespace {

bool built(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::baseline: return true;
#ifdef DESCENT_CPU_ISA_AVX2
    case CpuIsa::avx2: return true;
#endif
#ifdef DESCENT_CPU_ISA_AVX512
    case CpuIsa::avx512: return true;
#endif
    default: return false;
  }
}

bool cpu_runs(CpuIsa isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // The variants are compiled for the x86-64 levels v3 and v4. Their feature
  // lists are asked one by one: clang 14 (the fuzz build) knows no level
  // names. v3's F16C, LZCNT and MOVBE come with AVX2 + FMA + BMI2 on every
  // CPU that has those.
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
  switch (isa) {
    case CpuIsa::baseline: return true;
    case CpuIsa::avx2: return v3;
    case CpuIsa::avx512:
      return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return isa == CpuIsa::baseline;
#endif
}

bool available(CpuIsa isa) { return built(isa) && cpu_runs(isa); }

CpuIsa chosen_at_start() {
  if (const char* env = std::getenv("DESCENT_CPU_ISA")) {
    for (CpuIsa isa : {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512}) {
      if (std::strcmp(env, to_string(isa)) != 0) continue;
      if (!available(isa))
        raise<RuntimeError>("DESCENT_CPU_ISA: '", env, "' is not available (",
                            built(isa) ? "this CPU does not support it" : "this build does not include it", ")");
      return isa;
    }
    raise<ValueError>("DESCENT_CPU_ISA: invalid value '", env, "' (must be baseline, avx2 or avx512)");
  }
  return available_isas().back();
}

// -1: not chosen yet.
std::atomic<int> active{-1};

const IsaKernels& kernels_of(CpuIsa isa) {
  static constexpr IsaKernels base{baseline::fused_pointwise, baseline::fused_pointwise_rows, baseline::elementwise,
                                   baseline::unary, baseline::matmul};
  switch (isa) {
#ifdef DESCENT_CPU_ISA_AVX2
    case CpuIsa::avx2: {
      static constexpr IsaKernels k{avx2::fused_pointwise, avx2::fused_pointwise_rows, avx2::elementwise,
                                   avx2::unary, avx2::matmul};
      return k;
    }
#endif
#ifdef DESCENT_CPU_ISA_AVX512
    case CpuIsa::avx512: {
      static constexpr IsaKernels k{avx512::fused_pointwise, avx512::fused_pointwise_rows, avx512::elementwise,
                                   avx512::unary, avx512::matmul};
      return k;
    }
#endif
    default: return base;
  }
}

}  // namespace

const char* to_string(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::baseline: return "baseline";
    case CpuIsa::avx2: return "avx2";
    case CpuIsa::avx512: return "avx512";
  }
  return "unknown";
}

std::vector<CpuIsa> available_isas() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512})
    if (available(isa)) out.push_back(isa);
  return out;
}

CpuIsa active_isa() {
  int isa = active.load(std::memory_order_acquire);
  if (isa < 0) {
    // Concurrent first calls agree: the choice depends only on the environment and the CPU.
    isa = static_cast<int>(chosen_at_start());
    int expected = -1;
    if (!active.compare_exchange_strong(expected, isa, std::memory_order_acq_rel)) isa = expected;
  }
  return static_cast<CpuIsa>(isa);
}

void set_active_isa(CpuIsa isa) {
  if (!available(isa))
    raise<RuntimeError>("set_active_isa: '", to_string(isa), "' is not available on this CPU and build");
  active.store(static_cast<int>(isa), std::memory_order_release);
}

const IsaKernels& active_kernels() { return kernels_of(active_isa()); }

}  // namespace descent::cpu_fused
