#pragma once

/// Deterministic simulation of many membership cores (the same
/// `membership::swim_core` the daemon runs) over a simulated clock and
/// network with seeded faults: loss, delay, duplication, reordering,
/// partitions (halves, a single node, a bridge node, one-way), crashes and
/// restarts, paused and slowed nodes. Invariants are checked as it runs; a
/// violation stops the run and names the step, and the seed replays it.

#include "mycelium/config/node_config.hpp"
#include "mycelium/core/time.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mycelium::sim {

struct options {
  size_t nodes = 100;
  uint64_t seed = 1;
  /// crash, partition, oneway, bridge, single, pause, slow, leave.
  std::string scenario = "crash";
  /// Network model.
  double loss = 0.0;
  double duplicate = 0.0;
  int64_t min_delay_ms = 1;
  int64_t max_delay_ms = 5;
  /// Fraction of nodes whose messages take `slow_delay_ms` longer.
  double slow_fraction = 0.0;
  int64_t slow_delay_ms = 1500;
  bool lifeguard = true;
  /// Simulated time step.
  int64_t tick_ms = 20;
  config::membership_config membership = config::membership_config::defaults();
};

struct figures {
  bool ok = true;
  std::string violation;
  double simulated_s = 0;
  /// Crash -> first member declares it failed.
  double confirmation_s = -1;
  /// First declaration -> 99% of live members know.
  double dissemination_99_s = -1;
  /// Heal or restart -> every live member sees every live member alive.
  double convergence_s = -1;
  /// Failures declared about members that never crashed or left.
  uint64_t false_failures = 0;
  /// ... of those, about members that were not slowed (Lifeguard's target:
  /// a slow member must not get healthy ones declared failed).
  uint64_t false_failures_healthy = 0;
  uint64_t suspicions = 0;
  uint64_t messages = 0;
  uint64_t dropped = 0;
};

/// Runs one scenario to completion.
figures run(const options& opts);

} // namespace mycelium::sim
