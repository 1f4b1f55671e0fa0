#pragma once

/// Membership actor: the shell over `membership::swim_core`. Registered as
/// "membership".
///
/// It ticks the core, exchanges membership frames through the transport
/// (kind Membership), starts the join with every peer the transport
/// connects to, asks the transport to keep connections to the members it
/// learns of, persists its own incarnation in the state store before
/// anything that announces it leaves, and publishes member events.
///
/// Messages:
/// - `(members_atom) -> std::string` and `(status_atom) -> std::string`: the
///   member table as JSON.
/// - `(subscribe_atom)`: the sender receives `(member_atom,
///   membership::event)` for every joined, suspect, failed, left, recovered
///   or address change, first one (joined, in its current state) per member
///   of the table.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"
#include "mycelium/store/state_store.hpp"

namespace mycelium::actors {

child_spec membership_child(node_context_ptr ctx);

/// This node's persisted incarnation (0 before the first one is saved); a
/// stored value that is not a number is `corrupt`, named in the error.
result<uint64_t> stored_incarnation(store::state_store& store);

} // namespace mycelium::actors
