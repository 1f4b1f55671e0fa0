#pragma once

/// The Prometheus endpoint: serves the node's metrics registry as
/// `GET /metrics` (text format 0.0.4) on `metrics.listen`, from its own
/// small HTTP thread pool, so a slow scraper never blocks an actor.
/// Registered as "metrics". No child when `metrics.listen` is empty.
///
/// Messages:
/// - `(status_atom) -> std::string`: address, scrapes served, series.

#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"

namespace mycelium::actors {

child_spec metrics_http_child(node_context_ptr ctx);

} // namespace mycelium::actors
