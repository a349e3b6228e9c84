// Stands in for the thrust-host backend when no Thrust headers were found.
#include "descent/error.h"
#include "devices/cuda/thrust_host_backend.h"

namespace descent::detail {

Backend& thrust_host_backend() {
  raise<NotImplementedError>(
      "thrust-host backend: descent was built without Thrust headers "
      "(install libthrust-dev or the CUDA toolkit and reconfigure)");
}

}  // namespace descent::detail
