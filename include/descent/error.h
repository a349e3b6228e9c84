#pragma once
// The error hierarchy of descent. Every message names the operation, the
// argument, the offending value and the rule it breaks, so a user can fix the
// call without reading our source.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace descent {

/// The base of every exception descent throws; the subclasses mirror Python's (ValueError, TypeError, KeyError, ...).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Mirrors Python's ValueError: an argument has the right type but a bad value.
class ValueError : public Error {
 public:
  using Error::Error;
};
/// Mirrors TypeError: an unsupported dtype or a wrong kind of argument.
class TypeError : public Error {
 public:
  using Error::Error;
};
/// Shapes that cannot be broadcast, reshaped or multiplied together.
class ShapeError : public Error {
 public:
  using Error::Error;
};
/// Tensors on different devices, or a device that is not available.
class DeviceError : public Error {
 public:
  using Error::Error;
};
/// An index or dimension out of range (Python's IndexError).
class IndexError : public Error {
 public:
  using Error::Error;
};
/// A feature that exists in PyTorch but not (yet) for this dtype/device/layout.
class NotImplementedError : public Error {
 public:
  using Error::Error;
};
/// A runtime condition (PyTorch's RuntimeError), e.g. a broken autograd graph.
class RuntimeError : public Error {
 public:
  using Error::Error;
};
/// A key that is missing from a dictionary-like object (Python's KeyError).
class KeyError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

// Throws E with the concatenation of the message parts.
template <typename E, typename... Parts>
[[noreturn]] void raise(const Parts&... parts) {
  throw E(detail::concat(parts...));
}

}  // namespace descent
