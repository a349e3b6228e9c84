// The CUDA device: memory and transfers through the CUDA runtime, kernels
// from ThrustBackend, device discovery that never aborts without a GPU.
#include <cuda_runtime_api.h>

#include <string>

#include "descent/devices/device.h"
#include "devices/cuda/thrust_backend.h"

namespace descent {

namespace detail::cuda_system {

namespace {

struct Discovery {
  int count = 0;
  std::string error;  // why no device is usable, when count == 0
};

// A missing driver or GPU is an answer, not a failure: report zero devices.
Discovery discover() {
  Discovery d;
  const cudaError_t err = cudaGetDeviceCount(&d.count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    d.count = 0;
    d.error = cudaGetErrorString(err);
  } else if (d.count == 0) {
    d.error = "no CUDA-capable device is detected";
  }
  return d;
}

const Discovery& discovery() {
  static const Discovery d = discover();
  return d;
}

void check_index(int device) {
  const int count = discovery().count;
  if (device < 0 || device >= count)
    raise<DeviceError>("cuda: invalid device index ", device, " (", count, " CUDA device",
                       count == 1 ? "" : "s", " available)");
}

class CudaBackend final : public ThrustBackend {
 public:
  DeviceType type() const override { return kCUDA; }

  void* allocate(std::size_t nbytes, int device_index) override {
    check_index(device_index);
    if (nbytes == 0) return nullptr;
    DeviceScope scope(device_index);
    void* ptr = nullptr;
    const cudaError_t err = cudaMalloc(&ptr, nbytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      raise<RuntimeError>("CUDA out of memory. Tried to allocate ", nbytes, " bytes on cuda:", device_index);
    }
    check_cuda("cudaMalloc", err);
    return ptr;
  }

  // Runs from tensor destructors, possibly after the runtime has shut down at
  // exit: errors are dropped rather than thrown.
  void deallocate(void* ptr, int) override {
    if (ptr != nullptr && cudaFree(ptr) != cudaSuccess) cudaGetLastError();
  }

  // cudaMemcpyDefault lets unified addressing tell host from device memory
  // and route peer copies between GPUs.
  void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) override {
    transfer(host_dst, src, nbytes);
  }
  void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) override {
    transfer(dst, host_src, nbytes);
  }
  void copy(void* dst, const void* src, std::size_t nbytes) override { transfer(dst, src, nbytes); }

  void synchronize() override { check_cuda("cudaDeviceSynchronize", cudaDeviceSynchronize()); }

 private:
  static void transfer(void* dst, const void* src, std::size_t nbytes) {
    if (nbytes != 0) check_cuda("cudaMemcpy", cudaMemcpy(dst, src, nbytes, cudaMemcpyDefault));
  }
};

}  // namespace

DeviceScope::DeviceScope(const void* ptr) {
  if (discovery().count < 2 || ptr == nullptr) return;
  cudaPointerAttributes attributes;
  if (cudaPointerGetAttributes(&attributes, ptr) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  if (attributes.type == cudaMemoryTypeDevice) enter(attributes.device);
}

DeviceScope::DeviceScope(int device) {
  if (discovery().count >= 2) enter(device);
}

void DeviceScope::enter(int device) {
  int current = 0;
  check_cuda("cudaGetDevice", cudaGetDevice(&current));
  if (current == device) return;
  check_cuda("cudaSetDevice", cudaSetDevice(device));
  previous_ = current;
}

DeviceScope::~DeviceScope() {
  if (previous_ >= 0) cudaSetDevice(previous_);
}

}  // namespace detail::cuda_system

namespace cuda {
bool is_available() { return detail::cuda_system::discovery().count > 0; }
int device_count() { return detail::cuda_system::discovery().count; }
}  // namespace cuda

namespace detail {
Backend& cuda_backend() {
  const auto& d = cuda_system::discovery();
  if (d.count == 0) raise<DeviceError>("cuda: no CUDA device is available (", d.error, ")");
  static cuda_system::CudaBackend backend;
  return backend;
}
}  // namespace detail

}  // namespace descent
