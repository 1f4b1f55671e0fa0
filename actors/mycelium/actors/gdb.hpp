#pragma once

/// Global Database actor: the shell over `gdb::replica_core`. Registered
/// as "gdb".
///
/// A write is merged, persisted in SQLite (owner "gdb" of the state store,
/// one row per key) and only then acknowledged; its delta then goes to
/// every live member through the transport (kind Gdb). Deltas and Merkle
/// anti-entropy messages from peers are merged and persisted the same way.
/// Anti-entropy runs with a random live member every
/// `gdb.anti_entropy_interval_ms`, and at once with a node the spore
/// tracker reports back with "sync_required".
///
/// Messages:
/// - `(db_atom, std::string args_json) -> std::string`: a console `db`
///   command: put KEY VALUE [TYPE], get KEY, del KEY, list [PREFIX], stats,
///   read-only on|off.
/// - `(status_atom) -> std::string`: keys, bytes, read-only, last
///   reconciliation per peer.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

child_spec gdb_child(node_context_ptr ctx);

} // namespace mycelium::actors
