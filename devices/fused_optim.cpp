// Default fused optimizer entry points for backends that lack them.
#include "descent/devices/backend.h"
#include "descent/error.h"

namespace descent {

namespace {
const char* device_name(DeviceType t) { return t == DeviceType::CUDA ? "cuda" : "cpu"; }
}  // namespace

void Backend::fused_adam(Dtype, const std::vector<FusedTensor>&, const FusedAdamArgs&) {
  raise<NotImplementedError>("fused Adam/AdamW is not implemented on device type ", device_name(type()),
                             "; use fused=false (the forloop or foreach implementation)");
}
void Backend::fused_sgd(Dtype, const std::vector<FusedTensor>&, const FusedSgdArgs&) {
  raise<NotImplementedError>("fused SGD is not implemented on device type ", device_name(type()),
                             "; use fused=false (the forloop or foreach implementation)");
}

void Backend::fused_pointwise(Dtype, const std::vector<FusedTensor>&, const FusedPointwiseArgs&) {
  raise<NotImplementedError>("fused pointwise optimizer kernels are not implemented on device type ",
                             device_name(type()), "; use fused=false (the forloop or foreach implementation)");
}

}  // namespace descent
