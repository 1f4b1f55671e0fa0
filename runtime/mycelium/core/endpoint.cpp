#include "mycelium/core/endpoint.hpp"

#include <algorithm>
#include <cctype>

namespace mycelium {

result<endpoint> parse_endpoint(const std::string& text) {
  auto fail = [&] {
    return error{"endpoint", 1,
                 "expected \"host:port\" with a port from 1 to 65535, got \"" +
                     text + "\""};
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return fail();
  auto host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      return fail();
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return fail(); // unbracketed IPv6
  }
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5 ||
      !std::all_of(digits.begin(), digits.end(),
                   [](unsigned char c) { return std::isdigit(c); }))
    return fail();
  auto port = std::stoul(digits);
  if (port == 0 || port > 65535)
    return fail();
  return endpoint{host, static_cast<uint16_t>(port)};
}

} // namespace mycelium
