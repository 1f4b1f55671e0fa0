#include "mycelium/transport/config.hpp"

namespace mycelium::transport {

transport_config transport_config::local() {
  transport_config cfg;
  cfg.handshake_timeout_ms = 2000;
  cfg.connect_timeout_ms = 1000;
  cfg.reconnect_initial_ms = 100;
  cfg.reconnect_max_ms = 2000;
  cfg.tick_ms = 50;
  cfg.keepalive_ms = 200;
  cfg.dead_after_ms = 2000;
  return cfg;
}

} // namespace mycelium::transport
