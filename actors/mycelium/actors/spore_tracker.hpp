#pragma once

/// Spore tracker actor: the shell over `spores::tracker_core`. Registered
/// as "spores".
///
/// It follows membership (every member event becomes alive or gone for the
/// core), exchanges spore sync frames through the transport (kind Spores),
/// asks the transport to connect to nodes it learns of only through spores,
/// persists every changed spore in the state store (owner "spores", one
/// transaction per batch) before anything it learned is announced, reloads
/// them on start, and publishes its events.
///
/// Messages:
/// - `(spores_atom) -> std::string`: every known node (JSON).
/// - `(spore_atom, std::string node) -> std::string`: one node's spore with
///   its activity periods (name, id or id prefix).
/// - `(status_atom) -> std::string`: a summary (inspect).
/// - `(subscribe_atom)`: the sender receives `(spore_ev_atom,
///   spores::tracker_event)` for every learned, returned and
///   section_rejoined event.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

child_spec spore_tracker_child(node_context_ptr ctx);

} // namespace mycelium::actors
