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

/// Sets TCP_USER_TIMEOUT on `fd`: the kernel fails the connection when
/// data it sent stays unacknowledged for `ms` (a silent cut), instead of
/// retransmitting for many minutes.
void set_user_timeout(int fd, int64_t ms);

/// Milliseconds of the monotonic clock (for deadlines).
int64_t monotonic_ms();

/// Writes all of `bytes` to a non-blocking socket; gives up when the socket
/// takes nothing for a second or fails (later reads report a dead peer).
void write_all(int fd, const std::string& bytes);

/// Waits until `deadline_ms` (monotonic) for data: returns what one read
/// got, or "" on timeout or when the peer closed (then `eof` is true).
std::string read_some(int fd, int64_t deadline_ms, bool& eof);

} // namespace mycelium::net
