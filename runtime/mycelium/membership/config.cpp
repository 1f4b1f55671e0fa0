#include "mycelium/membership/config.hpp"

namespace mycelium::membership {

membership_config membership_config::local() {
  membership_config cfg;
  cfg.probe_interval_ms = 200;
  cfg.probe_timeout_ms = 100;
  cfg.gossip_interval_ms = 50;
  cfg.push_pull_interval_ms = 5000;
  cfg.reconnect_interval_ms = 1000;
  return cfg;
}

} // namespace mycelium::membership
