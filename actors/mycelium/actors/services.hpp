#pragma once

/// Service manager actor: the shell over `services::placement_core`.
/// Registered as "services".
///
/// It hosts the node's instances of the configured services (kinds counter
/// and kv), answers their operations, and writes each instance's record to
/// the Global Database (`svc/<service>/<instance>`) before it acknowledges
/// a change. Every `services.tick_ms` it reads all records, follows
/// membership for the reachable nodes, and carries out what the core
/// decides: start a service nobody reachable runs (failover from the
/// newest record), terminate the local loser of a split and remove its
/// record, or merge a loser into the local winner through the service's
/// merge-strategy actor. On start it resumes the instances whose records
/// name this node (state recovery).
///
/// Merge strategies are CAF actors that answer
/// `(merge_atom, std::string service, std::string winner_record,
/// std::string loser_record) -> std::string merged_state` (records are the
/// JSON of `services::encode`). `counter-sum` and `kv-union` ship with the
/// runtime; `register_merge_strategy` adds more.
///
/// Messages:
/// - `(service_atom, std::string args_json) -> std::string`: a console
///   `service` command: ["list"] or ["call", SERVICE, OP, ARGS...].
/// - `(status_atom) -> std::string`: the service list (inspect).

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

#include <caf/actor.hpp>

#include <string>

namespace mycelium::actors {

child_spec services_child(node_context_ptr ctx);

/// Makes `strategy` the merge strategy `name` for every service whose
/// config names it (replaces an earlier one of that name).
void register_merge_strategy(caf::actor_system& sys, const std::string& name,
                             caf::actor strategy);

/// The merge strategy `name`, or an invalid handle.
caf::actor merge_strategy(caf::actor_system& sys, const std::string& name);

} // namespace mycelium::actors
