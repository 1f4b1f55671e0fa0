#pragma once

/// Deterministic simulation of the spore tracker: N tracker cores over a
/// simulated clock and network, with a membership oracle (a node sees
/// another alive exactly when both run and can reach each other; failure
/// detection itself is the SWIM simulator's job).
///
/// Scenario "heal": everyone converges; the network splits into halves;
/// on each side nodes stop and new nodes join; the partition heals. The
/// run measures the sync rounds and bytes until every running node holds
/// the same spore set, and checks that it is the same set everywhere and
/// contains every node either side met. `full_state` replaces the digest
/// protocol by shipping the whole spore set on every exchange (the
/// baseline).

#include "mycelium/spores/tracker_core.hpp"

#include <cstdint>
#include <string>

namespace mycelium::sim {

struct spore_options {
  size_t nodes = 100;
  uint64_t seed = 1;
  /// Nodes that stop and nodes that join on each side while apart.
  size_t churn = 3;
  /// Partition length in activity slots.
  int64_t partition_slots = 3;
  double loss = 0.0;
  bool full_state = false;
  spores::tracker_config tracker = [] {
    spores::tracker_config c;
    c.slot_ms = 10000;
    c.sync_interval_ms = 1000;
    return c;
  }();
};

struct spore_figures {
  bool ok = true;
  std::string violation;
  /// Sync intervals from the heal until every running node was equal.
  int64_t rounds = -1;
  /// Sync bytes sent by everyone from the heal until then.
  uint64_t bytes = 0;
  /// Spores every node holds at the end.
  size_t spores = 0;
  /// Returned and section events seen (decisions made).
  uint64_t returns = 0;
  uint64_t sections = 0;
};

spore_figures run_spores(const spore_options& opts);

} // namespace mycelium::sim
