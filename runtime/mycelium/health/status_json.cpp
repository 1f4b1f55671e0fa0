#include "mycelium/health/status_json.hpp"

#include "mycelium/json/json.hpp"

namespace mycelium::health {

std::string render_status(const node_identity& node, const monitor_core& core,
                          wall_ms now) {
  json doc;
  doc["node"] = node.name;
  doc["listen"] = node.listen;
  doc["network_id"] = node.network_id;
  doc["boot"] = node.boot;
  doc["pid"] = node.pid;
  doc["started_ms"] = node.started;
  doc["updated_ms"] = now;
  auto report = core.report(now);
  doc["health"] = {{"level", report.level}, {"reasons", report.reasons}};
  auto comps = json::array();
  for (auto& [path, c] : core.components())
    comps.push_back({{"path", c.path},
                     {"state", c.state},
                     {"restarts", c.restarts},
                     {"last_reason", c.last_reason},
                     {"last_failure_ms", c.last_failure},
                     {"since_ms", c.since}});
  doc["components"] = comps;
  doc["samples_recorded"] = core.samples().size();
  doc["members"] = core.member_counts();
  if (!core.samples().empty()) {
    auto& s = core.samples().back();
    doc["resources"] = {{"time_ms", s.time},
                        {"rss_bytes", s.rss_bytes},
                        {"cpu_seconds", s.cpu_seconds},
                        {"open_fds", s.open_fds},
                        {"data_dir_bytes", s.data_dir_bytes},
                        {"disk_free_bytes", s.disk_free_bytes},
                        {"disk_total_bytes", s.disk_total_bytes}};
  }
  return doc.dump(2);
}

} // namespace mycelium::health
