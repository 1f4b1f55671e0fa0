#pragma once

/// Supervisor actor: the CAF shell over `supervision::supervisor_core`.
///
/// The supervisor links to each child and traps exits, as in OTP: a child's
/// exit reaches it as an `exit_msg` and is handed to the core, whose decision
/// (stop siblings, restart after a backoff, give up) the shell performs. If
/// the supervisor itself dies, the links take its children down with it.
/// An exit from a linked non-child (its own parent) makes it stop its
/// children in reverse order and exit with the same reason.
///
/// Events (started, restarted, stopped, failed, escalated) flow up: a nested
/// supervisor forwards them to its parent; the root numbers them in its
/// bounded event log and pushes them to subscribers such as the health
/// monitor, which can catch up from any position after its own restart.
///
/// Messages:
/// - `(shutdown_atom)`: orderly stop; the supervisor exits normally.
/// - `(tree_atom) -> tree_rows`: this subtree, nested supervisors included.
/// - `(crash_atom, path)`: crash the child at `path` ("health",
///   "sub/child"); refused unless `allow_fault_injection`.
/// - `(status_atom, path) -> std::string`: the status document of the actor
///   at `path`, relayed through nested supervisors.
/// - `(subscribe_atom, boot, since) -> event_batch` (root only): events after
///   `since` of boot `boot` (all when the boot differs); then pushes
///   `(event_atom, supervision_event)` as they happen.

#include "mycelium/supervision/supervisor_core.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mycelium::actors {

/// How to start one child. `start` must spawn the child linked to the
/// supervisor (`sup->spawn<caf::linked>(...)`) and return its handle.
struct child_spec {
  std::string id;
  supervision::restart_type restart = supervision::restart_type::permanent;
  std::function<caf::actor(caf::event_based_actor* sup)> start;
  /// True when the child is itself a supervisor (its subtree is listed by
  /// `tree` and crash paths route through it).
  bool is_supervisor = false;
};

/// Everything a supervisor needs.
struct supervisor_options {
  /// Path segment of this supervisor ("node" for the root).
  std::string name = "node";
  supervision::policy policy;
  /// Seeds the backoff jitter.
  uint64_t seed = 0;
  std::vector<child_spec> children;
  /// Root only: identifies this boot in event numbering.
  std::string boot;
  /// Whether `crash_atom` is honoured.
  bool allow_fault_injection = false;
  /// Grace period for a child to stop before it is killed.
  int64_t shutdown_timeout_ms = 5000;
  /// Events kept by the root for subscribers that catch up.
  size_t max_log = 1000;
  /// Wall clock in ms (tests pass a fake one).
  std::function<int64_t()> wall_clock;
};

/// Spawns a root supervisor (no parent).
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_options opts);

/// A child spec that starts a nested supervisor under the spawning one.
child_spec supervisor_child(std::string id, supervisor_options opts);

/// Makes a child turn an escaped exception into an exit reason that keeps
/// the exception's text (CAF 0.17 drops it otherwise).
void keep_exception_text(caf::scheduled_actor* self);

} // namespace mycelium::actors
