#pragma once
// What the Thrust kernels share, whichever device system compiles them: nvcc
// for CUDA, or a plain C++ compiler for Thrust's CPP system (the "thrust-host"
// variant that CI runs without a GPU). Everything device-side is
// DESCENT_HOST_DEVICE and written once; only the execution policy, the device
// guard and the error check below differ between the two systems.
#include <thrust/complex.h>
#include <thrust/execution_policy.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstdint>
#include <type_traits>

#include "descent/devices/backend.h"
#include "descent/devices/half.h"
#include "descent/error.h"
#include "devices/elementwise_math.h"

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include <cuda_runtime_api.h>
// Each compilation lives in its own namespace: both end up in one library.
#define DESCENT_THRUST_NS cuda_system
#else
#define DESCENT_THRUST_NS host_system
#endif

namespace descent::detail::DESCENT_THRUST_NS {

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
// Kernels queue on the default stream without waiting; synchronize(), copies
// to the host and reductions (which return to the host) wait.
inline auto policy() { return thrust::cuda::par_nosync; }
inline constexpr const char* kSystemName = "cuda";

[[noreturn]] inline void raise_cuda(const char* what, cudaError_t err) {
  raise<RuntimeError>("cuda: ", what, " failed: ", cudaGetErrorString(err), " (", cudaGetErrorName(err), ")");
}
inline void check_cuda(const char* what, cudaError_t err) {
  if (err != cudaSuccess) raise_cuda(what, err);
}

// Makes the GPU that owns `ptr` (or has index `device`) current for the
// scope. With a single device there is nothing to switch, so this is free.
class DeviceScope {
 public:
  explicit DeviceScope(const void* ptr);
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  void enter(int device);
  int previous_ = -1;
};
#else
inline auto policy() { return thrust::device; }
inline constexpr const char* kSystemName = "thrust-host";

struct DeviceScope {
  explicit DeviceScope(const void*) {}
};
#endif

// Device-side storage type of each dtype: thrust::complex stands in for
// std::complex (same layout) so complex math compiles for the device.
template <class T>
struct storage {
  using type = T;
};
template <class R>
struct storage<std::complex<R>> {
  using type = thrust::complex<R>;
};
template <class T>
using storage_t = typename storage<T>::type;

template <class T>
struct Tag {
  using type = T;
};

// Calls fn(Tag<S>{}) with S the device storage type of dtype.
template <class Fn>
decltype(auto) dispatch_storage(Dtype dtype, Fn&& fn) {
  return dispatch_dtype(dtype, [&](auto v) -> decltype(auto) { return fn(Tag<storage_t<decltype(v)>>{}); });
}

// A host-side number (a fill value, a scalar operand) in type T.
template <class T>
T from_scalar(std::complex<double> v) {
  return math::convert<T>(thrust::complex<double>(v.real(), v.imag()));
}

// Kernels index with int64_t throughout, so tensors past 2^31 elements work.
inline thrust::counting_iterator<int64_t> first_index() { return thrust::counting_iterator<int64_t>(0); }

}  // namespace descent::detail::DESCENT_THRUST_NS
