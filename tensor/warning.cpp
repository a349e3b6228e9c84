#include "descent/warning.h"

#include <iostream>
#include <mutex>

namespace descent {

namespace {
std::mutex& handler_mutex() {
  static std::mutex m;
  return m;
}
WarningHandler& handler() {
  static WarningHandler h;
  return h;
}
}  // namespace

void warn(const std::string& message) {
  WarningHandler h;
  {
    std::lock_guard<std::mutex> lock(handler_mutex());
    h = handler();
  }
  if (h) {
    h(message);
  } else {
    std::cerr << "UserWarning: " << message << '\n';
  }
}

WarningHandler set_warning_handler(WarningHandler h) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  WarningHandler previous = std::move(handler());
  handler() = std::move(h);
  return previous;
}

WarningCapture::WarningCapture() {
  previous_ = set_warning_handler([this](const std::string& m) { messages_.push_back(m); });
}
WarningCapture::~WarningCapture() { set_warning_handler(previous_); }

bool WarningCapture::contains(const std::string& fragment) const {
  for (const auto& m : messages_)
    if (m.find(fragment) != std::string::npos) return true;
  return false;
}

}  // namespace descent
