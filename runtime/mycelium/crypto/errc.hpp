#pragma once

#include "mycelium/core/error.hpp"

#include <cstdint>
#include <string>

namespace mycelium::crypto {

/// Crypto failures. Append-only: never renumber.
enum class errc : uint8_t {
  /// The identity key file is missing parts, unreadable or malformed.
  bad_identity_file = 1,
  /// The TLS handshake failed (wrong key, unknown identity, bad record).
  handshake_failed = 2,
  /// The peer did not speak TLS (garbage, plain HTTP, truncated records).
  not_tls = 3,
  /// The channel is closed or not established yet.
  not_established = 4,
  /// A signature did not verify.
  bad_signature = 5,
  /// A key (hex) could not be decoded.
  bad_key = 6,
};

const char* to_string(errc code);

inline error make_error(errc code, std::string message) {
  return error{"crypto", static_cast<uint8_t>(code), std::move(message)};
}

} // namespace mycelium::crypto
