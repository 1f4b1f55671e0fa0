#pragma once

/// Alerting actor: evaluates the `alerting` rules of the config against the
/// node's metrics every `eval_interval_ms` (the pure `alerting::alert_core`
/// decides), persists alert state (owner "alerts" of the state store) so
/// alerts, acks, silences and what was notified survive restarts, and
/// delivers notifications to channels: log, a JSON-lines file, an external
/// command (JSON on stdin) or an HTTP webhook (JSON POST, 3 attempts).
/// Command and webhook deliveries run on their own detached workers, so a
/// slow receiver never delays evaluation. Registered as "alerting".
///
/// Messages:
/// - `(alerts_atom, std::string args_json) -> std::string`: console
///   commands: list, ack ID, silence MATCHERS DURATION [COMMENT],
///   expire SILENCE_ID.
/// - `(status_atom) -> std::string`: the same as list.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

child_spec alerting_child(node_context_ptr ctx);

} // namespace mycelium::actors
