#pragma once

/// Isolation controller actor: the shell over `isolation::isolation_core`.
/// Registered as "isolation".
///
/// It follows membership (which peers are reachable; a member back alive
/// ends an isolation at once) and asks the spore tracker every tick which
/// nodes it knows (offline ones included, with their addresses). The
/// node's resources come from its own metrics (free disk, stores whose
/// writes fail). Every mode change is persisted in the state store (owner
/// "isolation") before it takes effect, logged, counted, and pushed to
/// subscribers (the Global Database turns read-only while isolated). While
/// isolated, every known address goes to the transport to dial.
///
/// Messages:
/// - `(isolation_atom, std::string args_json) -> std::string`: a console
///   `isolation` command: [] (status), ["override", "--force"?, reason...],
///   ["revoke"].
/// - `(status_atom) -> std::string`: the status (inspect).
/// - `(subscribe_atom)`: the sender receives `(mode_atom, bool read_only,
///   std::string reason)` now and on every change.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

child_spec isolation_child(node_context_ptr ctx);

} // namespace mycelium::actors
