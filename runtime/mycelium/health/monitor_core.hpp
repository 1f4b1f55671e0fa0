#pragma once

/// Health monitor core: per-component status built from supervision events,
/// a bounded history of process resource samples, and the roll-up into one
/// node health level with reasons.
///
/// Inputs arrive as values (events, samples, `now` as wall time); the core
/// never reads a clock or the file system. `health_store` persists what the
/// core holds, so a restarted monitor resumes with its full history.

#include "mycelium/core/time.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace mycelium::health {

/// One event of a supervision tree, numbered by the root supervisor.
struct supervision_event {
  /// Position in the root's log for this boot (1, 2, ...).
  uint64_t seq = 0;
  /// Wall time of the event.
  wall_ms time = 0;
  /// Component path, e.g. "node/health".
  std::string component;
  /// started, restarted, stopped, failed (given up on) or escalated.
  std::string kind;
  /// Exit reason for restarted/failed/escalated, else "".
  std::string reason;
  /// Restarts of the component in this boot (for restarted events).
  int64_t count = 0;
  /// Backoff before the restart, in ms.
  int64_t delay_ms = 0;
};

/// What the monitor knows about one component.
struct component_status {
  std::string path;
  /// running, restarting, stopped or failed.
  std::string state = "running";
  /// Restarts over the node's whole history (all boots).
  int64_t restarts = 0;
  std::string last_reason;
  wall_ms last_failure = 0;
  /// Wall time of the last state change.
  wall_ms since = 0;
};

/// Process resources at one moment.
struct resource_sample {
  wall_ms time = 0;
  int64_t rss_bytes = 0;
  /// User plus system CPU time consumed so far.
  double cpu_seconds = 0;
  int64_t open_fds = 0;
  /// Bytes used by the data dir.
  int64_t data_dir_bytes = 0;
  /// Free bytes on the data dir's file system (for unprivileged users).
  int64_t disk_free_bytes = 0;
  /// Size of that file system.
  int64_t disk_total_bytes = 0;
};

/// Roll-up of the node's health.
struct health_report {
  /// ok, degraded or failing.
  std::string level = "ok";
  /// Why the level is not ok, one line per cause.
  std::vector<std::string> reasons;
};

/// What the node's metrics say about connectivity, security and
/// performance at one moment (cumulative counts; the core takes deltas).
struct signals {
  wall_ms time = 0;
  /// Peers with an established transport connection.
  int64_t connected_peers = 0;
  /// Members alive or suspect (other than this node).
  int64_t live_members = 0;
  /// Failed handshakes, bad admin keys, hostile frames so far.
  uint64_t security_events = 0;
  /// Answered probes and the sum of their round trips so far.
  uint64_t probes = 0;
  double probe_rtt_sum_s = 0;
};

/// Thresholds for the roll-up.
struct thresholds {
  /// Restarts within `recent_window_ms` that make the node degraded.
  int64_t recent_restarts = 3;
  int64_t recent_window_ms = 60000;
  /// Free disk below this fraction makes the node degraded.
  double min_disk_free_ratio = 0.05;
  /// Mean probe round trip over the recent window that makes the node
  /// degraded.
  double max_probe_rtt_s = 0.5;
};

class monitor_core {
public:
  explicit monitor_core(size_t max_samples, thresholds t = {})
      : max_samples_(max_samples), thresholds_(t) {}

  /// Applies one supervision event; returns the component it changed.
  const component_status& on_event(const supervision_event& ev);

  /// A membership event: member `id` (`name`) is now in `state` (alive,
  /// suspect, failed, left).
  void on_member(const std::string& id, const std::string& name,
                 const std::string& state);

  /// Members by state, as the membership events told.
  std::map<std::string, int64_t> member_counts() const;

  /// Adds a resource sample, dropping the oldest beyond the limit.
  void on_sample(const resource_sample& s);

  /// Adds a metrics reading (kept over the recent window).
  void on_signals(const signals& s);

  /// Restores a persisted component (at start, before any event).
  void restore(const component_status& c) { components_[c.path] = c; }

  /// Restores a persisted sample (oldest first).
  void restore(const resource_sample& s) { on_sample(s); }

  /// Rolls components and resources up into a level with reasons.
  health_report report(wall_ms now) const;

  const std::map<std::string, component_status>& components() const {
    return components_;
  }

  const std::deque<resource_sample>& samples() const { return samples_; }

  /// Wall times of recent restarts (any component), newest last.
  const std::deque<wall_ms>& restart_times() const { return restart_times_; }

private:
  size_t max_samples_;
  thresholds thresholds_;
  std::map<std::string, component_status> components_;
  std::deque<resource_sample> samples_;
  std::deque<wall_ms> restart_times_;
  std::deque<signals> signals_;
  /// Member id -> (name, state), from membership events.
  std::map<std::string, std::pair<std::string, std::string>> members_;
};

} // namespace mycelium::health
