#pragma once

/// The transport's settings and their profiles (the node config reads them
/// from its "transport" section).

#include <cstdint>

namespace mycelium::transport {

/// Transport knobs: TLS connections between nodes and from the console.
struct transport_config {
  /// Largest frame accepted or sent; a larger length prefix closes the
  /// connection before the body is buffered.
  int64_t max_frame_bytes = 8 << 20;
  /// TLS handshake plus Hello exchange must finish within this time.
  int64_t handshake_timeout_ms = 5000;
  /// Inbound connections still in their handshake at once; more are
  /// closed on arrival (`too_many_handshakes`), so a flood of idle
  /// connections cannot take every file descriptor of the node.
  int64_t max_pending_handshakes = 256;
  /// An outbound connect attempt gives up after this long.
  int64_t connect_timeout_ms = 3000;
  /// Reconnect backoff: first retry after this delay ...
  int64_t reconnect_initial_ms = 500;
  /// ... doubling up to this cap ...
  int64_t reconnect_max_ms = 30000;
  /// ... times a random factor in [1 - j, 1 + j].
  double reconnect_jitter = 0.2;
  /// Per-peer outbound queue bound (frames waiting for a connection or for
  /// the socket to drain). When full, new frames are dropped and counted.
  int64_t max_queue_frames = 4096;
  int64_t max_queue_bytes = 16 << 20;
  /// Stop handing frames to a socket whose unsent bytes exceed this.
  int64_t write_high_water_bytes = 512 << 10;
  /// Protocol versions this node speaks (a range, highest common wins).
  int64_t protocol_min = 1;
  int64_t protocol_max = 1;
  /// Housekeeping period (timeouts, reconnects, delayed frames).
  int64_t tick_ms = 100;
  /// An established connection that sent nothing this long sends a
  /// keepalive, so a live peer is heard at least this often ...
  int64_t keepalive_ms = 1000;
  /// ... and one that carried no bytes this long is closed and redialled
  /// (a silent cut is noticed without waiting for TCP's retransmissions;
  /// also the sockets' TCP_USER_TIMEOUT).
  int64_t dead_after_ms = 5000;

  static transport_config defaults() { return {}; }
  static transport_config local();
};

} // namespace mycelium::transport
