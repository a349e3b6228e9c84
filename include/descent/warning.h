#pragma once
// Python-style warnings (UserWarning, DeprecationWarning). By default they
// are printed to stderr; a handler can collect them (tests use WarningCapture).
#include <functional>
#include <string>
#include <vector>

namespace descent {

using WarningHandler = std::function<void(const std::string& message)>;

void warn(const std::string& message);
// Replaces the handler; returns the previous one. An empty handler restores stderr printing.
WarningHandler set_warning_handler(WarningHandler handler);

/// Collects every warning raised while it is alive (Python's warnings.catch_warnings(record=True)).
class WarningCapture {
 public:
  WarningCapture();
  ~WarningCapture();
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;
  const std::vector<std::string>& messages() const { return messages_; }
  bool contains(const std::string& fragment) const;

 private:
  std::vector<std::string> messages_;
  WarningHandler previous_;
};

}  // namespace descent
