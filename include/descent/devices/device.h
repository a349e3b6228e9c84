#pragma once
#include <cstdint>
#include <string>

namespace descent {

enum class DeviceType : int8_t { CPU, CUDA };

inline constexpr DeviceType kCPU = DeviceType::CPU;
inline constexpr DeviceType kCUDA = DeviceType::CUDA;

/// Where a tensor's storage lives: a device type and, for CUDA, an index ("cpu", "cuda:0").
struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  Device() = default;
  Device(DeviceType t, int i = 0) : type(t), index(i) {}
  // Parses "cpu", "cuda", "cuda:1" as torch.device does.
  explicit Device(const std::string& spec);
  explicit Device(const char* spec) : Device(std::string(spec)) {}

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& other) const = default;
  // "cpu" or "cuda:0", as PyTorch prints a device.
  std::string str() const;
};

namespace cuda {
// True when descent was built with the CUDA backend and a GPU is present.
bool is_available();
int device_count();
}  // namespace cuda

}  // namespace descent
