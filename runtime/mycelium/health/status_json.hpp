#pragma once

/// The node status document: what `<data_dir>/status.json` holds and what the
/// health monitor answers to a status request.

#include "mycelium/health/monitor_core.hpp"

#include <string>

namespace mycelium::health {

/// Identity of the node the status describes.
struct node_identity {
  std::string name;
  std::string listen;
  std::string network_id;
  std::string boot;
  int64_t pid = 0;
  wall_ms started = 0;
};

/// Renders the status of `core` at wall time `now` as a JSON document.
std::string render_status(const node_identity& node, const monitor_core& core,
                          wall_ms now);

} // namespace mycelium::health
