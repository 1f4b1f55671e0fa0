#pragma once

/// A "host:port" network address, shared by the config, the transport and
/// the tools.

#include "mycelium/core/result.hpp"

#include <cstdint>
#include <string>

namespace mycelium {

/// A "host:port" address.
struct endpoint {
  std::string host;
  uint16_t port = 0;

  std::string to_string() const { return host + ":" + std::to_string(port); }
};

/// Parses "host:port" (port 1-65535; IPv6 hosts in brackets); the error
/// (domain "endpoint") names what was expected.
result<endpoint> parse_endpoint(const std::string& text);

} // namespace mycelium
