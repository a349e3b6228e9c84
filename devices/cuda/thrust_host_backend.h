#pragma once
// The CUDA backend's Thrust kernels compiled for Thrust's host (CPP) system:
// internal, for tests. It is not registered as a device; its memory is
// ordinary host memory, so tests run every CUDA kernel on the CPU and compare
// it with the CPU backend, on machines without a GPU.
#include "descent/devices/backend.h"

namespace descent::detail {

// Throws NotImplementedError when descent was built without Thrust headers.
Backend& thrust_host_backend();

}  // namespace descent::detail
