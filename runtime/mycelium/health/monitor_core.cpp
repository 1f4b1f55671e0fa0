#include "mycelium/health/monitor_core.hpp"

namespace mycelium::health {

const component_status& monitor_core::on_event(const supervision_event& ev) {
  auto& c = components_[ev.component];
  c.path = ev.component;
  c.since = ev.time;
  if (ev.kind == "started") {
    c.state = "running";
  } else if (ev.kind == "restarted") {
    c.state = "restarting";
    ++c.restarts;
    c.last_reason = ev.reason;
    c.last_failure = ev.time;
    restart_times_.push_back(ev.time);
    while (restart_times_.size() > 1000)
      restart_times_.pop_front();
  } else if (ev.kind == "failed" || ev.kind == "escalated") {
    c.state = "failed";
    c.last_reason = ev.reason;
    c.last_failure = ev.time;
  } else if (ev.kind == "stopped") {
    c.state = "stopped";
  }
  return c;
}

void monitor_core::on_member(const std::string& id, const std::string& name,
                             const std::string& state) {
  members_[id] = {name, state};
}

std::map<std::string, int64_t> monitor_core::member_counts() const {
  std::map<std::string, int64_t> out;
  for (auto& [id, m] : members_)
    ++out[m.second];
  return out;
}

void monitor_core::on_sample(const resource_sample& s) {
  samples_.push_back(s);
  while (samples_.size() > max_samples_)
    samples_.pop_front();
}

void monitor_core::on_signals(const signals& s) {
  signals_.push_back(s);
  // Keep one reading at or before the window's start, for deltas.
  while (signals_.size() > 2 &&
         s.time - signals_[1].time >= thresholds_.recent_window_ms)
    signals_.pop_front();
}

health_report monitor_core::report(wall_ms now) const {
  health_report r;
  auto raise = [&](const std::string& level) {
    if (level == "failing" || r.level == "ok")
      r.level = level;
  };
  for (auto& [path, c] : components_) {
    if (c.state == "failed") {
      raise("failing");
      r.reasons.push_back(path + " failed: " + c.last_reason);
    } else if (c.state == "restarting") {
      raise("degraded");
      r.reasons.push_back(path + " is restarting after: " + c.last_reason);
    }
  }
  for (auto& [id, m] : members_) {
    if (m.second == "failed" || m.second == "suspect") {
      raise("degraded");
      r.reasons.push_back("member " + m.first + " (" + id.substr(0, 8) +
                          ") is " + m.second);
    }
  }
  int64_t recent = 0;
  for (auto t : restart_times_)
    if (now - t <= thresholds_.recent_window_ms)
      ++recent;
  if (recent >= thresholds_.recent_restarts) {
    raise("degraded");
    r.reasons.push_back(std::to_string(recent) + " restarts in the last " +
                        std::to_string(thresholds_.recent_window_ms / 1000) +
                        " s");
  }
  if (!signals_.empty()) {
    auto& last = signals_.back();
    auto& first = signals_.front();
    if (last.connected_peers < last.live_members) {
      raise("degraded");
      r.reasons.push_back("connected to " +
                          std::to_string(last.connected_peers) + " of " +
                          std::to_string(last.live_members) + " live members");
    }
    if (last.security_events > first.security_events) {
      raise("degraded");
      r.reasons.push_back(
          std::to_string(last.security_events - first.security_events) +
          " security events (failed handshakes, bad admin keys, hostile "
          "frames) in the last " +
          std::to_string((last.time - first.time) / 1000) + " s");
    }
    if (last.probes > first.probes) {
      auto mean = (last.probe_rtt_sum_s - first.probe_rtt_sum_s) /
                  static_cast<double>(last.probes - first.probes);
      if (mean > thresholds_.max_probe_rtt_s) {
        raise("degraded");
        r.reasons.push_back("probe round trips average " +
                            std::to_string(static_cast<int64_t>(mean * 1000)) +
                            " ms");
      }
    }
  }
  if (!samples_.empty()) {
    auto& s = samples_.back();
    if (s.disk_total_bytes > 0 &&
        static_cast<double>(s.disk_free_bytes) <
            thresholds_.min_disk_free_ratio *
                static_cast<double>(s.disk_total_bytes)) {
      raise("degraded");
      r.reasons.push_back("data dir disk almost full: " +
                          std::to_string(s.disk_free_bytes / (1 << 20)) +
                          " MiB free");
    }
  }
  return r;
}

} // namespace mycelium::health
