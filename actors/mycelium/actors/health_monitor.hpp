#pragma once

/// Health monitor actor: the shell over `health::monitor_core`.
///
/// It subscribes to the root supervisor's event log and keeps per-component
/// status (running, restarting, failed, restart count, last failure reason),
/// samples process resources on a timer (RSS, CPU time, open descriptors,
/// data-dir disk usage), persists all of it through `health::health_store`,
/// and writes the node's status to `<data_dir>/status.json` (atomically, by
/// rename) after every change. A restarted monitor reloads its history and
/// its cursor into the event log before taking messages, then catches up on
/// the events it missed (its own restart among them): nothing is lost or
/// counted twice.
///
/// Messages:
/// - `(status_atom) -> std::string`: the status document as JSON text.
/// - `(event_atom, supervision_event)`: pushed by the supervisor.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

/// The child spec of the health monitor under the root supervisor `sup`.
child_spec health_monitor_child(node_context_ptr ctx);

/// Path of the status file of a node with data dir `data_dir`.
std::string status_file_path(const std::string& data_dir);

} // namespace mycelium::actors
