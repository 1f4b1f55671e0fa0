#pragma once

/// What every subsystem actor of one node shares: its config, its open
/// database and the identity of this boot. Owned by `myceliumd`'s main (or a
/// test) and handed to actors by `shared_ptr`, so a restarted child reuses the
/// open connection instead of reopening the file (which costs a checkpoint).

#include "mycelium/actors/resource_board.hpp"
#include "mycelium/config/node_config.hpp"
#include "mycelium/crypto/identity.hpp"
#include "mycelium/metrics/registry.hpp"
#include "mycelium/store/database.hpp"

#include <functional>
#include <memory>
#include <string>

namespace mycelium::actors {

struct node_context {
  config::node_config cfg;
  std::shared_ptr<store::database> db;
  /// The node's Ed25519 identity (loaded or created at start).
  std::shared_ptr<const crypto::node_identity> identity;
  /// Unique per start of the process; numbers the supervision event log.
  std::string boot;
  /// Wall-clock start of this boot, ms since the epoch.
  int64_t started_ms = 0;
  /// NOT SECURE: transport without TLS; set only by `mycelium-bench
  /// transport` for its plain-TCP baseline, never from a config file.
  bool plaintext_for_benchmarks = false;
  /// Wall clock in ms (tests pass a fake one).
  std::function<int64_t()> wall_clock;
  /// The node's metrics, shared by every actor and the /metrics endpoint.
  std::shared_ptr<metrics::registry> metrics =
      std::make_shared<metrics::registry>();
  /// Free disk and failing stores, as the components last reported them.
  std::shared_ptr<resource_board> resources =
      std::make_shared<resource_board>();
};

using node_context_ptr = std::shared_ptr<const node_context>;

} // namespace mycelium::actors
