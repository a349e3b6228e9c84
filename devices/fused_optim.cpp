// The default fused optimizer entry point, for backends that lack it.
#include "descent/devices/backend.h"
#include "descent/error.h"

namespace descent {

namespace {
const char* device_name(DeviceType t) { return t == DeviceType::CUDA ? "cuda" : "cpu"; }
}  // namespace

void Backend::fused_pointwise(Dtype, const std::vector<FusedTensor>&, const FusedPointwiseArgs&) {
  raise<NotImplementedError>("fused pointwise optimizer kernels are not implemented on device type ",
                             device_name(type()), "; use fused=false (the forloop or foreach implementation)");
}

void Backend::fused_pointwise_rows(Dtype, const std::vector<FusedRows>&, const FusedPointwiseArgs&) {
  raise<NotImplementedError>("fused optimizer kernels over sparse rows are not implemented on device type ",
                             device_name(type()));
}

}  // namespace descent
