#pragma once

/// Transport actor: the CAF io broker over `transport::transport_core`. The
/// only actor that touches sockets.
///
/// It listens on the configured address, dials seeds and known peers
/// (blocking connects run in short-lived detached actors, never in the
/// broker), feeds socket bytes to the core and performs what the core
/// returns. Verified frames are dispatched by kind to the local actor
/// registered under the kind's name (console requests to "console", bench
/// frames to "bench"); local actors never hand their handles to peers.
/// Socket writes are acknowledged so the core sees each socket's backlog
/// and holds frames back above the high-water mark.
///
/// Registered as "transport". Messages:
/// - `(send_atom, node_id, kind, payload)`: queue a frame to a peer.
/// - `(console_atom, conn, json)`: answer a console request.
/// - `(peers_atom) -> std::string` / `(status_atom) -> std::string`:
///   connections, negotiated versions, bytes, rejections by reason (JSON).
/// - `(fault_atom, json) -> std::string`: install a fault rule, or clear all
///   with `{"clear": true}`; refused unless `allow_fault_injection`.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

/// The child spec of the transport.
child_spec transport_child(node_context_ptr ctx);

} // namespace mycelium::actors
