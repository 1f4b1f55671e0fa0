#pragma once

/// Console actor: executes requests from the remote console (`mycelium`)
/// that the transport receives on admin connections, and answers through
/// the transport. Registered as "console".
///
/// A request is JSON `{"cmd": NAME, "args": [...]}`; the answer is
/// `{"ok": true, "result": ...}` or `{"ok": false, "error": TEXT,
/// "code": NAME}`. Commands: status, actors, inspect PATH, peers, kill PATH,
/// fault RULE-JSON. Every command asks the actor that owns the answer, with a
/// deadline, so a stuck subsystem yields an error, never a hung console.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

/// The child spec of the console.
child_spec console_child(node_context_ptr ctx);

} // namespace mycelium::actors
