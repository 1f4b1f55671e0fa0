#pragma once

/// The supervision state machine, free of CAF (STYLE.md rule 6: supervision
/// lives in one place; the actor in actors/ only performs what this decides).
///
/// Semantics follow Erlang/OTP's supervisor, plus what OTP lacks:
/// - strategies: `one_for_one` restarts only the failed child; `one_for_all`
///   stops every other child and restarts all; `rest_for_one` stops and
///   restarts the children started after the failed one.
/// - restart types: `permanent` children are always restarted, `transient`
///   ones only after an abnormal exit, `temporary` ones never (and are dropped
///   when a sibling's failure restarts the group).
/// - intensity: more than `max_restarts` restarts within `restart_window`
///   makes the supervisor give up: it stops its children and fails to its
///   own parent with the reason.
/// - backoff (not in OTP, like Akka's BackoffSupervisor): the first restart
///   after a quiet period is immediate; while a child keeps failing, each
///   further restart waits `backoff_initial * 2^(n-1)`, capped at
///   `backoff_max`, times a jitter factor in [1 - jitter, 1 + jitter]. A
///   child that ran `backoff_reset` without failing starts over at n = 0.
/// - every restart is recorded with wall time, child, reason and count.
///
/// Children stop one at a time in reverse start order (shutdown, escalation
/// and group restarts alike), so a child never outlives one started before it.
///
/// The core is driven by the shell: `start`, `on_started`, `on_exit`,
/// `on_start_due` and `shutdown` each return `effects` to perform.

#include "mycelium/core/prng.hpp"
#include "mycelium/core/time.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace mycelium::supervision {

/// Which siblings restart with a failed child.
enum class strategy : uint8_t { one_for_one, one_for_all, rest_for_one };

/// When a child is restarted.
enum class restart_type : uint8_t { permanent, transient, temporary };

/// Life cycle of a child as the supervisor sees it.
enum class child_state : uint8_t {
  /// Spawn requested, not yet confirmed.
  starting,
  /// Alive.
  running,
  /// Asked to stop; waiting for its exit.
  stopping,
  /// Dead, waiting for its (possibly delayed) restart.
  restarting,
  /// Ended and not to be restarted (normal exit of a transient or any exit
  /// of a temporary child, or the supervisor shut down).
  stopped,
  /// Gave up on: the supervisor exceeded its restart intensity.
  failed,
};

const char* to_string(strategy x);
const char* to_string(restart_type x);
const char* to_string(child_state x);

/// Parses "one_for_one" etc.; false when unknown.
bool from_string(const std::string& text, strategy& out);
bool from_string(const std::string& text, restart_type& out);

/// Restart policy of one supervisor.
struct policy {
  strategy how = strategy::one_for_one;
  /// Intensity: at most this many restarts ...
  int max_restarts = 5;
  /// ... within this window.
  duration restart_window = std::chrono::seconds(30);
  duration backoff_initial = std::chrono::milliseconds(100);
  duration backoff_max = std::chrono::seconds(10);
  /// Relative jitter in [0, 1].
  double backoff_jitter = 0.2;
  /// Running this long without failure resets a child's backoff.
  duration backoff_reset = std::chrono::seconds(10);
};

/// One restart, as shown by the console and kept in history.
struct restart_record {
  /// Wall-clock time of the failure.
  wall_ms time = 0;
  /// Child that failed (and caused the restart).
  std::string child;
  /// Exit reason, as text.
  std::string reason;
  /// How often this child has been restarted so far, this one included.
  int count = 0;
  /// Backoff applied before the restart.
  duration delay{};
};

/// What the supervisor knows about one child.
struct child_info {
  std::string id;
  restart_type restart = restart_type::permanent;
  child_state state = child_state::starting;
  /// Restarts of this child since the supervisor started.
  int restarts = 0;
  /// Failures in a row without a quiet period in between (drives backoff).
  int consecutive_failures = 0;
  /// Reason of the last abnormal exit ("" if none).
  std::string last_reason;
  /// Wall time of the last abnormal exit (0 if none).
  wall_ms last_failure = 0;
  /// When the current incarnation started (monotonic).
  time_point started_at{};
  /// Counts spawns; the shell uses it to ignore stale timers.
  uint64_t incarnation = 0;
  /// The start request this child waits for (0 if none).
  uint64_t ticket = 0;
};

/// Spawn `ids` (in this order) after `delay`; confirm with `on_start_due`.
struct start_request {
  duration delay{};
  uint64_t ticket = 0;
  std::vector<std::string> ids;
};

/// What the shell must do after a step.
struct effects {
  /// Send a shutdown exit to these children (and arm a kill timeout).
  std::vector<std::string> stop;
  /// Schedule a spawn.
  std::optional<start_request> start;
  /// Restarts decided in this step.
  std::vector<restart_record> records;
  /// Set once every child has stopped after `shutdown` (empty string) or
  /// after giving up (the escalation reason): the supervisor now exits.
  std::optional<std::string> finished;
  /// True when this step gave up (intensity exceeded).
  bool escalated = false;
};

class supervisor_core {
public:
  supervisor_core(policy p, uint64_t seed) : policy_(p), rng_(seed) {}

  /// Adds a child at the end of the start order (before `start`).
  void add_child(std::string id, restart_type restart);

  /// Starts every child in order, at once.
  effects start();

  /// The shell spawned `id`.
  void on_started(const std::string& id, time_point now);

  /// `id` exited; `abnormal` is false for a normal or requested exit.
  effects on_exit(const std::string& id, bool abnormal,
                  const std::string& reason, time_point now, wall_ms wall);

  /// A start timer fired; returns the children to spawn now (empty when the
  /// request was superseded, e.g. by a shutdown).
  std::vector<std::string> on_start_due(uint64_t ticket);

  /// Stops every child in reverse start order, then finishes.
  effects shutdown();

  /// Children in start order.
  const std::vector<child_info>& children() const { return children_; }

  /// Looks up a child, nullptr if unknown.
  const child_info* find(const std::string& id) const;

  const policy& config() const { return policy_; }

  /// Restarts inside the current intensity window.
  size_t recent_restarts() const { return recent_.size(); }

  /// True once the supervisor stops for good (shutdown or escalation).
  bool stopping() const { return terminating_; }

private:
  child_info* get(const std::string& id);
  size_t index_of(const std::string& id) const;
  duration backoff(child_info& c, time_point now);
  /// Queues `ids` for sequential stop; returns the first stop effect.
  void stop_next(effects& fx);
  void terminate(effects& fx, std::optional<std::string> reason);
  bool alive(const child_info& c) const;

  policy policy_;
  prng rng_;
  std::vector<child_info> children_;
  /// Times of the restarts inside the intensity window (oldest first).
  std::deque<time_point> recent_;
  /// Children still to stop, next first.
  std::deque<std::string> stop_queue_;
  /// Children to spawn once `stop_queue_` has drained.
  std::vector<std::string> pending_start_;
  duration pending_delay_{};
  /// Last start request issued.
  uint64_t ticket_ = 0;
  /// The child currently asked to stop ("" if none).
  std::string stopping_;
  bool terminating_ = false;
  bool finished_ = false;
  /// Why the supervisor gives up ("" for a requested shutdown).
  std::optional<std::string> failure_;
};

} // namespace mycelium::supervision
