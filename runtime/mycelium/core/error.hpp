#pragma once

/// Shared error vocabulary of the runtime.
///
/// Each subsystem has its own `enum class errc : uint8_t` (see STYLE.md rule
/// 11) and converts it into this type-erased `error`: a domain name, the
/// numeric code and a human message that names the cause. `actors/` maps it
/// onto `caf::error`; `runtime/` never sees CAF.

#include <cstdint>
#include <string>
#include <utility>

namespace mycelium {

/// A failure: which subsystem (`domain`), which code and what happened.
class error {
public:
  error() = default;

  error(std::string domain, uint8_t code, std::string message)
      : domain_(std::move(domain)), code_(code), message_(std::move(message)) {
    // nop
  }

  /// Subsystem that produced the error, e.g. "store" or "config".
  const std::string& domain() const noexcept { return domain_; }

  /// Numeric value of the subsystem's `errc`.
  uint8_t code() const noexcept { return code_; }

  /// Human-readable description naming the cause.
  const std::string& message() const noexcept { return message_; }

  /// "domain: message".
  std::string to_string() const { return domain_ + ": " + message_; }

private:
  std::string domain_;
  uint8_t code_ = 0;
  std::string message_;
};

} // namespace mycelium
