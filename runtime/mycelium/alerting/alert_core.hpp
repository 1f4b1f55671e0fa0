#pragma once

/// Alerting, following Prometheus and Alertmanager: rules turn metric
/// samples into alerts (pending while a for-duration runs, then firing,
/// then resolved); alerts are grouped by labels into notifications that
/// wait `group_wait` before the first send (so related alerts arrive
/// together and inhibitions take effect), inhibition rules let a firing
/// alert suppress others that share labels with it (a node being down
/// silences the follow-on alerts about that node), silences mute matching
/// alerts until they expire, and an unacknowledged critical alert escalates
/// to a second channel after a configured time.
///
/// Pure: `evaluate` takes the samples and `now` and returns notifications
/// to deliver; `save`/`load` persist the state so alerts, acks, silences
/// and what was already notified survive restarts.

#include "mycelium/alerting/detector.hpp"
#include "mycelium/core/result.hpp"
#include "mycelium/metrics/registry.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mycelium::alerting {

using metrics::label_set;

/// label=value or label!=value.
struct matcher {
  std::string label;
  std::string value;
  bool negate = false;
  bool matches(const label_set& l) const;
};

/// Parses "a=x,b!=y" (at least one matcher).
result<std::vector<matcher>> parse_matchers(const std::string& text);
std::string to_string(const std::vector<matcher>& m);

/// "90s", "30m", "2h", "1d", "500ms" (a positive duration) in ms.
result<int64_t> parse_duration_ms(const std::string& text);

enum class comparison { gt, ge, lt, le, eq, ne };
result<comparison> parse_comparison(const std::string& text);
const char* to_string(comparison c);

struct threshold_rule {
  std::string name;
  /// Series name and label filter.
  std::string metric;
  label_set match;
  comparison cmp = comparison::gt;
  double value = 0;
  int64_t for_ms = 0;
  std::string severity = "warning";
  /// Added to the alert's labels.
  label_set extra;
  std::string summary;
};

struct anomaly_rule {
  std::string name;
  std::string metric;
  label_set match;
  /// Score the per-second rate of a counter instead of its value.
  bool rate = false;
  detector_config detector;
  int64_t for_ms = 0;
  std::string severity = "warning";
  label_set extra;
  std::string summary;
};

struct inhibit_rule {
  std::vector<matcher> source;
  std::vector<matcher> target;
  /// Labels that must be equal on source and target.
  std::vector<std::string> equal;
};

struct route {
  /// Channel for notifications; escalations go to `escalation_channel`.
  std::string channel = "log";
  std::vector<std::string> group_by = {"alertname"};
  int64_t group_wait_ms = 30000;
  int64_t group_interval_ms = 300000;
  int64_t repeat_interval_ms = 14400000;
  bool send_resolved = true;
  std::string escalation_channel;
  /// 0: no escalation.
  int64_t escalate_after_ms = 0;
};

struct alerting_config {
  std::vector<threshold_rule> rules;
  std::vector<anomaly_rule> anomalies;
  std::vector<inhibit_rule> inhibit;
  route routing;
  /// Resolved alerts stay visible this long.
  int64_t resolved_retention_ms = 900000;
};

struct alert {
  /// Fingerprint of the labels (16 hex digits).
  std::string id;
  /// Includes alertname and severity.
  label_set labels;
  std::string summary;
  /// pending, firing or resolved.
  std::string state = "pending";
  double value = 0;
  int64_t active_since = 0;
  int64_t fired_at = 0;
  int64_t resolved_at = 0;
  bool acked = false;
  int64_t acked_at = 0;
  bool escalated = false;
  /// Computed at each evaluation.
  bool inhibited = false;
  bool silenced = false;
  /// A resolved alert whose resolution was notified (or needs none).
  bool resolved_notified = false;

  std::string label(const std::string& name) const;
};

struct silence {
  std::string id;
  std::vector<matcher> matchers;
  int64_t created_ms = 0;
  int64_t until_ms = 0;
  std::string comment;
};

struct notification {
  std::string channel;
  /// "firing" when any alert in it fires, else "resolved".
  std::string status;
  std::string group_key;
  label_set group_labels;
  std::vector<alert> alerts;
  bool escalation = false;
};

struct alert_effects {
  std::vector<notification> notify;
  /// Alert, group or silence state changed: persist.
  bool changed = false;
};

class alert_core {
public:
  explicit alert_core(alerting_config cfg) : cfg_(std::move(cfg)) {}

  alert_effects evaluate(const std::vector<metrics::sample>& samples,
                         int64_t now);

  /// Acknowledges an alert (stops its escalation); not_found otherwise.
  status ack(const std::string& id, int64_t now);
  /// Adds a silence; returns its id.
  std::string add_silence(std::vector<matcher> m, int64_t now,
                          int64_t duration_ms, std::string comment);
  bool expire_silence(const std::string& id);

  const std::map<std::string, alert>& alerts() const { return alerts_; }
  const std::vector<silence>& silences() const { return silences_; }
  const alerting_config& config() const { return cfg_; }

  /// Persistent form (JSON text) and its restore.
  std::string save() const;
  status load(const std::string& text);

private:
  struct group {
    label_set group_labels;
    int64_t next_flush = 0;
    int64_t last_sent = 0;
    /// Ids of firing alerts in the last notification.
    std::set<std::string> notified;
  };

  void activate(const label_set& l, const std::string& rule,
                const std::string& sev, const std::string& summary,
                double value, int64_t for_ms, int64_t now,
                std::set<std::string>& seen, double forecast = 0);
  void update_suppression(int64_t now);
  void flush_groups(int64_t now, alert_effects& fx);
  void escalate(int64_t now, alert_effects& fx);
  std::string group_key(const alert& a, label_set& group_labels) const;

  alerting_config cfg_;
  std::map<std::string, alert> alerts_;
  /// Alert ids each rule produced at the last evaluation.
  std::map<std::string, std::set<std::string>> by_rule_;
  std::map<std::string, group> groups_;
  std::vector<silence> silences_;
  uint64_t next_silence_ = 1;
  /// Per anomaly rule and series: detector and the previous raw sample.
  struct series_state {
    detector det;
    double last_raw = 0;
    int64_t last_time = 0;
    bool has_last = false;
  };
  std::map<std::string, series_state> detectors_;
};

} // namespace mycelium::alerting
