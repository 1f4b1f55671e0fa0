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
/// - `(put_atom, key, text) -> bool`, `(del_atom, key) -> bool`: typed
///   writes for other subsystems (the service manager's records), persisted
///   before the answer; a refusal is the error.
/// - `(scan_atom, prefix) -> gdb_rows`: every key under a prefix, text
///   values with their text, other types named.
/// - `(mode_atom, bool read_only, reason)`: the isolation controller's mode;
///   writes are refused until the first one arrives after a start.
/// - `(member_atom, membership::event)`, `(spore_ev_atom,
///   spores::tracker_event)`: what it follows of membership and spores.
/// - `(status_atom) -> std::string`: keys, bytes, read-only, last
///   reconciliation per peer.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

child_spec gdb_child(node_context_ptr ctx);

} // namespace mycelium::actors
