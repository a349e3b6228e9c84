#pragma once
// The instruction sets the CPU's vectorised kernels are compiled for — the
// fused optimizer loop (devices/cpu/fused_pointwise_loop.cpp), the
// elementwise ops (devices/cpu/cpu_elementwise.cpp) and the floating-point
// matmul (devices/cpu/matmul_kernel.cpp), once per set, each in its own
// namespace — and the one they run: the best this CPU supports, chosen at
// the first call, or the one DESCENT_CPU_ISA names. The fused and
// elementwise kernels give the same bits under every set; matmul's summation order
// follows the vector width (within one set it is the same for any number of
// threads).
#include <vector>

#include "descent/devices/backend.h"

namespace descent::cpu_fused {

enum class CpuIsa { baseline, avx2, avx512 };

const char* to_string(CpuIsa isa);

// The sets built into this library that this CPU can run, baseline first.
std::vector<CpuIsa> available_isas();

// The set the kernels run. Raises ValueError when DESCENT_CPU_ISA is not
// baseline, avx2 or avx512, RuntimeError when it names one not available.
CpuIsa active_isa();
// For tests: runs the kernels on `isa` from now on (RuntimeError when it is not available).
void set_active_isa(CpuIsa isa);

// One ISA's kernels.
struct IsaKernels {
  void (*pointwise)(Dtype, const std::vector<FusedTensor>&, const FusedPointwiseArgs&);
  void (*rows)(Dtype, const std::vector<FusedRows>&, const FusedPointwiseArgs&);
  // CpuBackend::elementwise and CpuBackend::unary (cpu_elementwise.cpp).
  void (*elementwise)(BinaryOp, const ElementwiseArgs&);
  void (*unary)(UnaryOp, Dtype, const void* in, void* out, Dtype out_dtype, int64_t n);
  // Float16, BFloat16, Float32, Float64, Complex64 and Complex128 (matmul_kernel.cpp).
  void (*matmul)(Dtype, const MatmulOperand&, const MatmulOperand&, void*, int64_t batch, int64_t m, int64_t k,
                 int64_t n);
};
const IsaKernels& active_kernels();

#define DESCENT_DECLARE_ISA_KERNELS(ns)                                                            \
  namespace ns {                                                                                   \
  void fused_pointwise(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedPointwiseArgs& args); \
  void fused_pointwise_rows(Dtype dtype, const std::vector<FusedRows>& tensors, const FusedPointwiseArgs& args); \
  void elementwise(BinaryOp op, const ElementwiseArgs& args);                                      \
  void unary(UnaryOp op, Dtype dtype, const void* in, void* out, Dtype out_dtype, int64_t n);      \
  void matmul(Dtype dtype, const MatmulOperand& a, const MatmulOperand& c, void* out, int64_t batch, int64_t m,  \
              int64_t k, int64_t n);                                                                        \
  }
DESCENT_DECLARE_ISA_KERNELS(baseline)
DESCENT_DECLARE_ISA_KERNELS(avx2)
DESCENT_DECLARE_ISA_KERNELS(avx512)
#undef DESCENT_DECLARE_ISA_KERNELS

}  // namespace descent::cpu_fused
