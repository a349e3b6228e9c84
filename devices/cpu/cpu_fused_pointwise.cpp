// CpuBackend's fused pointwise kernels: the launch checks, then the loop
// compiled for the instruction set devices/cpu/cpu_isa.cpp chose.
#include "descent/error.h"
#include "devices/cpu/cpu_backend.h"
#include "devices/cpu/cpu_isa.h"

namespace descent {

void CpuBackend::fused_pointwise_rows(Dtype dtype, const std::vector<FusedRows>& tensors,
                                      const FusedPointwiseArgs& args) {
  if (args.amp.grad_scale != nullptr || args.amp.found_inf != nullptr)
    raise<ValueError>("fused_pointwise_rows: AMP inputs (grad_scale, found_inf) are not supported over rows");
  cpu_fused::active_kernels().rows(dtype, tensors, args);
}

void CpuBackend::fused_pointwise(Dtype dtype, const std::vector<FusedTensor>& tensors,
                                 const FusedPointwiseArgs& args) {
  // found_inf is one flag for the whole bucket: a skipped step touches nothing.
  if (args.amp.found_inf != nullptr && *args.amp.found_inf != 0.0f) return;
  cpu_fused::active_kernels().pointwise(dtype, tensors, args);
}

}  // namespace descent
