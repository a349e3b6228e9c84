// The registry of backends: which implementation runs each device type.
#include "descent/devices/backend.h"

#include "descent/error.h"
#include "devices/cpu/cpu_backend.h"

namespace descent {

#ifdef DESCENT_WITH_CUDA
namespace detail {
// Defined by the CUDA backend (devices/cuda); throws DeviceError when no GPU is present.
Backend& cuda_backend();
}  // namespace detail
#else
namespace cuda {
bool is_available() { return false; }
int device_count() { return 0; }
}  // namespace cuda
#endif

Backend& backend_for(DeviceType type) {
  if (type == DeviceType::CPU) return detail::cpu_backend();
#ifdef DESCENT_WITH_CUDA
  return detail::cuda_backend();
#else
  raise<DeviceError>("descent was built without CUDA support: cannot use device cuda:0 "
                     "(rebuild with the CUDA toolkit installed to enable the CUDA backend)");
#endif
}

bool backend_available(DeviceType type) {
  if (type == DeviceType::CPU) return true;
  return cuda::is_available();
}

}  // namespace descent
