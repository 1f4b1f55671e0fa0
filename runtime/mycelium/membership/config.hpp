#pragma once

/// Membership's settings and their profiles (the node config reads them
/// from its "membership" section).

#include <cstdint>

namespace mycelium::membership {

/// Membership (SWIM with Lifeguard) knobs. Timing scales with these; the
/// suspicion timeout also grows with log10 of the cluster size.
struct membership_config {
  /// One probe of one member per period (times the local health score + 1).
  int64_t probe_interval_ms = 500;
  /// Wait this long for a direct ack before asking others to probe.
  int64_t probe_timeout_ms = 200;
  /// Members asked to probe indirectly.
  int64_t indirect_checks = 3;
  /// Minimum suspicion timeout = alpha * log10(N) * probe interval ...
  double suspicion_alpha = 3;
  /// ... and the maximum is beta times the minimum; confirmations from
  /// independent members shrink it from max toward min (Lifeguard).
  double suspicion_beta = 4;
  /// Confirmations that bring the timeout down to its minimum.
  int64_t suspicion_confirmations = 2;
  /// An update is piggybacked retransmit_mult * ceil(log10(N + 1)) times.
  int64_t retransmit_mult = 4;
  /// Gossip of pending updates to a few members, besides piggybacking.
  int64_t gossip_interval_ms = 200;
  int64_t gossip_nodes = 3;
  /// Full state exchange with one random member.
  int64_t push_pull_interval_ms = 30000;
  /// Full state exchange with one random *failed* member: a member that
  /// was only cut off (partition) learns it was declared failed, refutes,
  /// and both sides merge (Serf's reconnect).
  int64_t reconnect_interval_ms = 5000;
  /// Local health awareness: probe interval and timeout are multiplied by
  /// (score + 1), score in [0, awareness_max] (Lifeguard); 0 disables it.
  int64_t awareness_max = 8;
  /// Updates carried by one message.
  int64_t max_piggyback = 16;
  /// Failed and left members are remembered this long (for spores).
  int64_t retain_failed_ms = 86400000;

  static membership_config defaults() { return {}; }
  static membership_config local();
};

} // namespace mycelium::membership
