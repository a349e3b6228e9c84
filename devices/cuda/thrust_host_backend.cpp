// The thrust-host backend: the CUDA backend's kernel sources compiled a second
// time, by the C++ compiler, for Thrust's CPP device system. Memory lives on
// the host heap.

// Before any Thrust header: this file's Thrust runs on the host (the macro
// expands after Thrust has defined THRUST_DEVICE_SYSTEM_CPP).
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_CPP

#include "devices/cuda/thrust_host_backend.h"

#include <cstring>
#include <new>

#include "devices/cuda/elementwise.cu"
#include "devices/cuda/fill_cast.cu"
#include "devices/cuda/fused_pointwise.cu"
#include "devices/cuda/matmul.cu"
#include "devices/cuda/reduce.cu"
#include "devices/cuda/unary.cu"

namespace descent::detail {

namespace {

class ThrustHostBackend final : public host_system::ThrustBackend {
 public:
  // Its memory is host memory: report the CPU so nothing treats it as a GPU.
  DeviceType type() const override { return kCPU; }

  void* allocate(std::size_t nbytes, int) override {
    if (nbytes == 0) return nullptr;
    void* ptr = ::operator new(nbytes, kAlignment, std::nothrow);
    if (ptr == nullptr)
      raise<RuntimeError>("thrust-host allocator: not enough memory to allocate ", nbytes, " bytes");
    return ptr;
  }
  void deallocate(void* ptr, int) override {
    if (ptr != nullptr) ::operator delete(ptr, kAlignment);
  }
  void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) override {
    copy(host_dst, src, nbytes);
  }
  void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) override {
    copy(dst, host_src, nbytes);
  }
  void copy(void* dst, const void* src, std::size_t nbytes) override {
    if (nbytes != 0) std::memcpy(dst, src, nbytes);
  }
  void synchronize() override {}

 private:
  static constexpr std::align_val_t kAlignment{64};
};

}  // namespace

Backend& thrust_host_backend() {
  static ThrustHostBackend backend;
  return backend;
}

}  // namespace descent::detail
