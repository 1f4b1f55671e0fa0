#pragma once

/// Deterministic simulation of the Global Database: N replica cores (the
/// daemon's `gdb::replica_core`) over a simulated clock and network with
/// seeded loss, duplication, delay and reordering, a membership oracle (a
/// node sees another exactly when messages flow both ways), and a store
/// per node that survives crashes (entries are "persisted" before a write
/// counts as acknowledged, as in the actor).
///
/// A run: writes everywhere while connected; a partition of the chosen
/// shape while every side keeps writing, to shared keys and to keys only
/// one node owns, with one node crashing and restarting from its store;
/// heal; run until all replicas hold byte-identical stored state. Then
/// every acknowledged write is checked against the final state (set-full
/// style): set elements all present, counters equal the sum of acked
/// increments, a register holds the acked write with the highest stamp,
/// multi-value registers hold only acked values and every latest one,
/// owned keys end as their owner's last acked put or delete left them.

#include "mycelium/core/time.hpp"

#include <cstdint>
#include <string>

namespace mycelium::sim {

struct gdb_options {
  size_t nodes = 5;
  uint64_t seed = 1;
  /// halves, single, three, bridge, oneway; "any" picks one per seed.
  std::string shape = "any";
  double loss = 0.0;
  double duplicate = 0.0;
  int64_t min_delay_ms = 1;
  int64_t max_delay_ms = 20;
  /// Length of the partition, writes per node per second.
  int64_t partition_ms = 8000;
  double writes_per_s = 10;
  /// Shared keys per value type.
  size_t keys = 6;
  int64_t anti_entropy_ms = 1000;
};

struct gdb_figures {
  bool ok = true;
  std::string violation;
  std::string shape;
  uint64_t acked_writes = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t crashes = 0;
  /// Heal -> every replica byte-identical.
  double convergence_s = -1;
  size_t keys = 0;
};

gdb_figures run_gdb(const gdb_options& opts);

} // namespace mycelium::sim
