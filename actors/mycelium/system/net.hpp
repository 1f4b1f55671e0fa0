#pragma once

/// Blocking TCP helpers for the shell layer: the transport's connectors and
/// the console client. Not for runtime/ (no sockets there).

#include <cstdint>
#include <string>

namespace mycelium::net {

/// Connects to `host:port` within `timeout_ms` (TCP_NODELAY set, socket
/// left non-blocking). Returns the socket, or -1 with `why` filled in.
int dial(const std::string& host, uint16_t port, int64_t timeout_ms,
         std::string& why);

/// Sets TCP_NODELAY on `fd`.
void set_nodelay(int fd);

} // namespace mycelium::net
