#include "mycelium/actors/node.hpp"

#include "mycelium/actors/alerting.hpp"
#include "mycelium/actors/console.hpp"
#include "mycelium/actors/gdb.hpp"
#include "mycelium/actors/health_monitor.hpp"
#include "mycelium/actors/isolation.hpp"
#include "mycelium/actors/membership.hpp"
#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/metrics_http.hpp"
#include "mycelium/actors/services.hpp"
#include "mycelium/actors/spore_tracker.hpp"
#include "mycelium/actors/transport.hpp"

#include <caf/all.hpp>

namespace mycelium::actors {

supervision::policy make_policy(const config::supervision_config& cfg,
                                supervision::strategy how) {
  supervision::policy p;
  p.how = how;
  p.max_restarts = cfg.max_restarts;
  p.restart_window = from_ms(cfg.restart_window_ms);
  p.backoff_initial = from_ms(cfg.backoff_initial_ms);
  p.backoff_max = from_ms(cfg.backoff_max_ms);
  p.backoff_jitter = cfg.backoff_jitter;
  p.backoff_reset = from_ms(cfg.backoff_reset_ms);
  return p;
}

std::vector<child_spec> node_children(node_context_ptr ctx) {
  std::vector<child_spec> children;
  children.push_back(health_monitor_child(ctx));
  children.push_back(transport_child(ctx));
  children.push_back(membership_child(ctx));
  children.push_back(spore_tracker_child(ctx));
  // Before gdb: a (re)started gdb finds the isolation controller registered
  // at its first tick and is read-only at once if the node is isolated.
  children.push_back(isolation_child(ctx));
  children.push_back(gdb_child(ctx));
  children.push_back(services_child(ctx));
  if (!ctx->cfg.metrics.listen.empty())
    children.push_back(metrics_http_child(ctx));
  children.push_back(alerting_child(ctx));
  children.push_back(console_child(ctx));
  return children;
}

caf::actor spawn_node(caf::actor_system& sys, node_context_ptr ctx,
                      uint64_t seed) {
  supervisor_options opts;
  opts.name = "node";
  // Subsystems are independent of each other: a crash restarts only itself.
  opts.policy =
      make_policy(ctx->cfg.supervision, supervision::strategy::one_for_one);
  opts.seed = seed;
  opts.boot = ctx->boot;
  opts.allow_fault_injection = ctx->cfg.allow_fault_injection;
  opts.shutdown_timeout_ms = ctx->cfg.supervision.shutdown_timeout_ms;
  opts.wall_clock = ctx->wall_clock;
  opts.children = node_children(ctx);
  auto root = spawn_supervisor(sys, std::move(opts));
  // Subsystems find each other by registered name, so a restarted sibling
  // is found again without re-wiring.
  register_as(sys, "node", root);
  return root;
}

} // namespace mycelium::actors
