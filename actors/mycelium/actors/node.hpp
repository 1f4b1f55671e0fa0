#pragma once

/// The node supervisor: the root of a node's supervision tree, over every
/// subsystem that exists (today: the health monitor). Later subsystems add
/// their child spec to `node_children`, in start order.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

#include <caf/fwd.hpp>

namespace mycelium::actors {

/// Converts the config's supervision section into a supervisor policy.
supervision::policy make_policy(const config::supervision_config& cfg,
                                supervision::strategy how);

/// The subsystems of a node, in start order.
std::vector<child_spec> node_children(node_context_ptr ctx);

/// Spawns the node's root supervisor; `seed` drives backoff jitter.
caf::actor spawn_node(caf::actor_system& sys, node_context_ptr ctx,
                      uint64_t seed);

} // namespace mycelium::actors
