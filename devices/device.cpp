#include "descent/devices/device.h"

#include <cctype>

#include "descent/error.h"

namespace descent {

namespace {

[[noreturn]] void invalid_device(const std::string& spec) {
  raise<ValueError>("Device: invalid device string '", spec,
                    "' (expected 'cpu', 'cuda' or 'cuda:<index>' with a non-negative index)");
}

// A non-negative decimal without sign, spaces or leading zeros, as torch.device accepts.
int parse_index(const std::string& digits, const std::string& spec) {
  if (digits.empty() || digits.size() > 9 || (digits.size() > 1 && digits[0] == '0')) invalid_device(spec);
  int value = 0;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) invalid_device(spec);
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

Device::Device(const std::string& spec) {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  if (name == "cpu") {
    type = DeviceType::CPU;
  } else if (name == "cuda") {
    type = DeviceType::CUDA;
  } else {
    invalid_device(spec);
  }
  index = colon == std::string::npos ? 0 : parse_index(spec.substr(colon + 1), spec);
  if (type == DeviceType::CPU && index != 0) {
    raise<ValueError>("Device: invalid device string '", spec, "' (the CPU device has index 0 only)");
  }
}

std::string Device::str() const {
  if (type == DeviceType::CPU) return "cpu";
  return "cuda:" + std::to_string(index);
}

}  // namespace descent
