#include "mycelium/config/node_config.hpp"

#include "mycelium/json/json.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace mycelium::config {

const char* to_string(errc code) {
  switch (code) {
  case errc::unreadable:
    return "unreadable";
  case errc::syntax:
    return "syntax";
  case errc::wrong_type:
    return "wrong_type";
  case errc::unknown_key:
    return "unknown_key";
  case errc::missing_key:
    return "missing_key";
  case errc::bad_value:
    return "bad_value";
  case errc::not_writable:
    return "not_writable";
  case errc::bad_key_file:
    return "bad_key_file";
  }
  return "unknown";
}

supervision_config supervision_config::local() {
  supervision_config cfg;
  cfg.backoff_initial_ms = 20;
  cfg.backoff_max_ms = 1000;
  cfg.backoff_reset_ms = 2000;
  cfg.restart_window_ms = 10000;
  cfg.shutdown_timeout_ms = 2000;
  return cfg;
}

health_config health_config::local() {
  health_config cfg;
  cfg.sample_interval_ms = 500;
  cfg.history_max_samples = 500;
  return cfg;
}

gdb_config gdb_config::local() {
  gdb_config cfg;
  cfg.anti_entropy_interval_ms = 1000;
  return cfg;
}

isolation_config isolation_config::local() {
  isolation_config cfg;
  cfg.grace_ms = 3000;
  cfg.override_after_ms = 5000;
  cfg.silence_ms = 600;
  return cfg;
}

services_config services_config::local() {
  services_config cfg;
  cfg.tick_ms = 500;
  cfg.settle_ms = 2000;
  return cfg;
}

alerting_section alerting_section::defaults() {
  using alerting::comparison;
  alerting_section a;
  channel_config log;
  log.name = "log";
  a.channels.push_back(log);
  auto rule = [&](std::string name, std::string metric, comparison cmp,
                  double value, int64_t for_ms, std::string severity,
                  std::string summary) {
    alerting::threshold_rule r;
    r.name = std::move(name);
    r.metric = std::move(metric);
    r.cmp = cmp;
    r.value = value;
    r.for_ms = for_ms;
    r.severity = std::move(severity);
    r.summary = std::move(summary);
    a.rules.rules.push_back(std::move(r));
  };
  rule("NodeDown", "mycelium_member_up", comparison::eq, 0, 0, "critical",
       "member {{peer}} is failed (membership)");
  rule("PeerDisconnected", "mycelium_transport_peer_connected", comparison::eq,
       0, 10000, "warning", "no connection to {{peer}}");
  rule("ComponentDown", "mycelium_component_running", comparison::eq, 0, 10000,
       "critical", "component {{component}} is not running");
  rule("DiskSpaceLow", "mycelium_disk_free_ratio", comparison::lt, 0.05, 60000,
       "critical", "data dir disk {{value}} free");
  rule("StoreWriteFailing", "mycelium_store_write_failing", comparison::eq, 1,
       0, "critical",
       "{{component}} cannot persist its state (disk full?); it serves on");
  rule("NodeIsolated", "mycelium_isolation_read_only", comparison::eq, 1, 0,
       "critical",
       "no peer reachable: read-only until a peer is back or an override "
       "(mycelium isolation)");
  alerting::anomaly_rule burst;
  burst.name = "SecurityEventBurst";
  burst.metric = "mycelium_security_events_total";
  burst.rate = true;
  burst.summary = "{{value}} {{kind}} events per second";
  a.rules.anomalies.push_back(burst);
  alerting::inhibit_rule down;
  down.source = {{"alertname", "NodeDown", false}};
  down.target = {{"alertname", "NodeDown", true}};
  down.equal = {"peer"};
  a.rules.inhibit.push_back(down);
  a.rules.routing.channel = "log";
  a.rules.routing.group_by = {"peer"};
  return a;
}

alerting_section alerting_section::local() {
  auto a = defaults();
  a.eval_interval_ms = 500;
  for (auto& r : a.rules.rules)
    r.for_ms = std::min<int64_t>(r.for_ms, 2000);
  a.rules.routing.group_wait_ms = 3000;
  a.rules.routing.group_interval_ms = 10000;
  return a;
}

spores_config spores_config::local() {
  spores_config cfg;
  cfg.slot_ms = 2000;
  cfg.sync_interval_ms = 500;
  cfg.return_decision_ms = 3000;
  return cfg;
}

namespace {

/// Thrown inside the loader only; `parse` turns it into an `error`.
struct config_failure {
  errc code;
  std::string path;
  std::string what;
};

std::string type_name(const json& j) {
  if (j.is_number_unsigned() || j.is_number_integer())
    return "integer " + j.dump();
  if (j.is_number_float())
    return "number " + j.dump();
  if (j.is_string())
    return "string " + j.dump();
  return std::string{j.type_name()};
}

std::string folder_of(const std::string& file) {
  auto slash = file.rfind('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return file.substr(0, slash);
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path.front() == '/')
    return path;
  char buf[4096];
  if (::getcwd(buf, sizeof(buf)) == nullptr)
    return path;
  return std::string{buf} + "/" + path;
}

/// Lexically normalises an absolute path ("a/./b/../c" -> "a/c").
std::string normalise(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in{path};
  std::string part;
  while (std::getline(in, part, '/')) {
    if (part.empty() || part == ".")
      continue;
    if (part == "..") {
      if (!parts.empty())
        parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (auto& p : parts)
    out += "/" + p;
  return out.empty() ? "/" : out;
}

/// Walks one JSON object: every key must be consumed, or it is unknown.
class object_reader {
public:
  object_reader(const json& obj, std::string path)
      : obj_(obj), path_(std::move(path)) {
    if (!obj_.is_object())
      throw config_failure{errc::wrong_type, path_or_root(),
                           "expected an object, got " + type_name(obj_)};
  }

  /// The JSON value at `key`, or nullptr when absent.
  const json* get(const std::string& key) {
    known_.insert(key);
    auto i = obj_.find(key);
    return i == obj_.end() ? nullptr : &*i;
  }

  const json& require(const std::string& key, const std::string& expected) {
    auto* j = get(key);
    if (j == nullptr)
      throw config_failure{errc::missing_key, child(key),
                           "missing required key (expected " + expected + ")"};
    return *j;
  }

  std::string child(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  std::string path_or_root() const { return path_.empty() ? "(root)" : path_; }

  /// Fails on the first key nobody asked for.
  void finish() {
    for (auto& [key, value] : obj_.items()) {
      if (known_.count(key) == 0) {
        std::string list;
        for (auto& k : known_)
          list += (list.empty() ? "" : ", ") + k;
        throw config_failure{errc::unknown_key, child(key),
                             "unknown key (known keys here: " + list + ")"};
      }
    }
  }

  void string(const std::string& key, std::string& out, bool required) {
    auto* j = required ? &require(key, "a string") : get(key);
    if (j == nullptr)
      return;
    if (!j->is_string())
      throw config_failure{errc::wrong_type, child(key),
                           "expected a string, got " + type_name(*j)};
    out = j->get<std::string>();
  }

  void boolean(const std::string& key, bool& out) {
    auto* j = get(key);
    if (j == nullptr)
      return;
    if (!j->is_boolean())
      throw config_failure{errc::wrong_type, child(key),
                           "expected true or false, got " + type_name(*j)};
    out = j->get<bool>();
  }

  template <class Int>
  void integer(const std::string& key, Int& out, int64_t min, int64_t max) {
    auto* j = get(key);
    if (j == nullptr)
      return;
    if (!j->is_number_integer())
      throw config_failure{errc::wrong_type, child(key),
                           "expected an integer, got " + type_name(*j)};
    bool in_range;
    int64_t value = 0;
    if (j->is_number_unsigned()) {
      auto u = j->get<uint64_t>();
      in_range = u <= static_cast<uint64_t>(max);
      value = in_range ? static_cast<int64_t>(u) : max;
    } else {
      value = j->get<int64_t>();
      in_range = value >= min && value <= max;
    }
    if (!in_range)
      throw config_failure{errc::bad_value, child(key),
                           "expected an integer from " + std::to_string(min) +
                               " to " + std::to_string(max) + ", got " +
                               j->dump()};
    out = static_cast<Int>(value);
  }

  void number(const std::string& key, double& out, double min, double max) {
    auto* j = get(key);
    if (j == nullptr)
      return;
    if (!j->is_number())
      throw config_failure{errc::wrong_type, child(key),
                           "expected a number, got " + type_name(*j)};
    auto value = j->get<double>();
    if (!(value >= min && value <= max)) {
      std::ostringstream msg;
      msg << "expected a number from " << min << " to " << max << ", got "
          << j->dump();
      throw config_failure{errc::bad_value, child(key), msg.str()};
    }
    out = value;
  }

  /// Runs `fn` on the sub-object at `key` when present.
  void object(const std::string& key,
              const std::function<void(object_reader&)>& fn) {
    auto* j = get(key);
    if (j == nullptr)
      return;
    object_reader sub{*j, child(key)};
    fn(sub);
    sub.finish();
  }

private:
  const json& obj_;
  std::string path_;
  std::set<std::string> known_;
};

void check_name(const std::string& path, const std::string& value) {
  auto ok_char = [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  };
  if (value.empty() || value.size() > 64 ||
      !std::all_of(value.begin(), value.end(), ok_char))
    throw config_failure{errc::bad_value, path,
                         "expected 1 to 64 letters, digits, '-', '_' or '.', "
                         "got \"" +
                             value + "\""};
}

endpoint to_endpoint(const std::string& path, const std::string& text) {
  auto ep = parse_endpoint(text);
  if (!ep)
    throw config_failure{errc::bad_value, path, ep.err().message()};
  return *ep;
}

/// Reads a key file: hex on one line, at least 128 bits.
std::string read_key_file(const std::string& json_path,
                          const std::string& file) {
  std::ifstream in{file};
  if (!in)
    throw config_failure{errc::bad_key_file, json_path,
                         "key file " + file + " cannot be read (missing?)"};
  std::string line;
  std::getline(in, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
    line.pop_back();
  std::string rest;
  while (std::getline(in, rest))
    if (!rest.empty())
      throw config_failure{errc::bad_key_file, json_path,
                           "key file " + file +
                               " must hold the key as hex on one line"};
  bool hex = !line.empty() && line.size() % 2 == 0 &&
             std::all_of(line.begin(), line.end(),
                         [](unsigned char c) { return std::isxdigit(c); });
  if (!hex || line.size() < 32)
    throw config_failure{errc::bad_key_file, json_path,
                         "key file " + file +
                             " must hold at least 16 bytes as hex on one line"};
  return line;
}

/// The data dir must be writable or creatable, without creating it now.
void check_data_dir(const std::string& json_path, const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw config_failure{errc::not_writable, json_path,
                           dir + " exists and is not a directory"};
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      throw config_failure{errc::not_writable, json_path,
                           "data dir " + dir + " is not writable"};
    return;
  }
  // Find the nearest existing ancestor: it must let us create the rest.
  auto parent = dir;
  while (parent.size() > 1) {
    parent = folder_of(parent);
    if (::stat(parent.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode) || ::access(parent.c_str(), W_OK | X_OK) != 0)
        throw config_failure{errc::not_writable, json_path,
                             "data dir " + dir + " cannot be created (" +
                                 parent + " is not a writable directory)"};
      return;
    }
  }
}

/// Resolves `path` against the config file's folder.
std::string resolve(const std::string& base, const std::string& path) {
  if (!path.empty() && path.front() == '/')
    return normalise(path);
  return normalise(base + "/" + path);
}

/// A JSON array at `key` (absent: nothing happens), each element read by
/// `fn` with its path.
void read_array(
    object_reader& r, const std::string& key,
    const std::function<void(const json&, const std::string&)>& fn) {
  auto* j = r.get(key);
  if (j == nullptr)
    return;
  if (!j->is_array())
    throw config_failure{errc::wrong_type, r.child(key),
                         "expected an array, got " + type_name(*j)};
  for (size_t i = 0; i < j->size(); ++i)
    fn((*j)[i], r.child(key) + "[" + std::to_string(i) + "]");
}

std::vector<std::string> read_strings(object_reader& r,
                                      const std::string& key) {
  std::vector<std::string> out;
  read_array(r, key, [&](const json& e, const std::string& path) {
    if (!e.is_string())
      throw config_failure{errc::wrong_type, path,
                           "expected a string, got " + type_name(e)};
    out.push_back(e.get<std::string>());
  });
  return out;
}

/// An object of string values: labels or a label filter.
metrics::label_set read_labels(object_reader& r, const std::string& key) {
  metrics::label_set out;
  auto* j = r.get(key);
  if (j == nullptr)
    return out;
  if (!j->is_object())
    throw config_failure{errc::wrong_type, r.child(key),
                         "expected an object of strings, got " + type_name(*j)};
  for (auto& [k, v] : j->items()) {
    if (!metrics::valid_label_name(k))
      throw config_failure{errc::bad_value, r.child(key) + "." + k,
                           "not a label name (letters, digits, '_')"};
    if (!v.is_string())
      throw config_failure{errc::wrong_type, r.child(key) + "." + k,
                           "expected a string, got " + type_name(v)};
    out.emplace_back(k, v.get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<alerting::matcher> read_matchers(object_reader& r,
                                             const std::string& key) {
  std::string text;
  r.string(key, text, true);
  auto m = alerting::parse_matchers(text);
  if (!m)
    throw config_failure{errc::bad_value, r.child(key), m.err().message()};
  return *m;
}

/// Fields every rule has: name, metric, match, for_ms, severity, labels,
/// summary.
template <class Rule>
void read_rule_common(object_reader& o, Rule& rule) {
  o.string("name", rule.name, true);
  if (rule.name.empty())
    throw config_failure{errc::bad_value, o.child("name"),
                         "expected a non-empty alert name"};
  o.string("metric", rule.metric, true);
  if (!metrics::valid_metric_name(rule.metric))
    throw config_failure{errc::bad_value, o.child("metric"),
                         "\"" + rule.metric + "\" is not a metric name"};
  rule.match = read_labels(o, "match");
  o.integer("for_ms", rule.for_ms, 0, int64_t{7} * 86400000);
  o.string("severity", rule.severity, false);
  if (rule.severity != "info" && rule.severity != "warning" &&
      rule.severity != "critical")
    throw config_failure{errc::bad_value, o.child("severity"),
                         "expected info, warning or critical, got \"" +
                             rule.severity + "\""};
  rule.extra = read_labels(o, "labels");
  o.string("summary", rule.summary, false);
}

void read_alerting(object_reader& r, alerting_section& a,
                   const std::string& base) {
  auto& rules = a.rules;
  r.integer("eval_interval_ms", a.eval_interval_ms, 10, 3600000);
  r.integer("resolved_retention_ms", rules.resolved_retention_ms, 0,
            int64_t{30} * 86400000);
  std::set<std::string> names{"log"};
  read_array(r, "channels", [&](const json& j, const std::string& path) {
    object_reader o{j, path};
    channel_config c;
    o.string("name", c.name, true);
    check_name(o.child("name"), c.name);
    if (!names.insert(c.name).second)
      throw config_failure{errc::bad_value, o.child("name"),
                           "channel \"" + c.name + "\" is defined twice"};
    o.string("type", c.type, true);
    if (c.type == "file") {
      o.string("path", c.target, true);
      c.target = resolve(base, c.target);
    } else if (c.type == "webhook") {
      o.string("url", c.target, true);
      auto rest = c.target.rfind("http://", 0) == 0 ? c.target.substr(7) : "";
      auto slash = rest.find('/');
      if (rest.empty() || !parse_endpoint(rest.substr(0, slash)))
        throw config_failure{errc::bad_value, o.child("url"),
                             "expected http://HOST:PORT/PATH, got \"" +
                                 c.target + "\""};
    } else if (c.type == "command") {
      c.command = read_strings(o, "command");
      if (c.command.empty())
        throw config_failure{errc::bad_value, o.child("command"),
                             "expected [PROGRAM, ARGS...]"};
    } else if (c.type != "log") {
      throw config_failure{errc::bad_value, o.child("type"),
                           "expected log, file, command or webhook, got \"" +
                               c.type + "\""};
    }
    o.integer("timeout_ms", c.timeout_ms, 1, 600000);
    o.finish();
    a.channels.push_back(c);
  });
  // Given rules replace the built-in ones (an empty array: none).
  if (r.get("rules") != nullptr)
    rules.rules.clear();
  read_array(r, "rules", [&](const json& j, const std::string& path) {
    object_reader o{j, path};
    alerting::threshold_rule rule;
    read_rule_common(o, rule);
    std::string cond;
    o.string("condition", cond, true);
    auto cmp = alerting::parse_comparison(cond);
    if (!cmp)
      throw config_failure{errc::bad_value, o.child("condition"),
                           cmp.err().message()};
    rule.cmp = *cmp;
    auto& value = o.require("value", "a number");
    if (!value.is_number())
      throw config_failure{errc::wrong_type, o.child("value"),
                           "expected a number, got " + type_name(value)};
    rule.value = value.get<double>();
    o.finish();
    rules.rules.push_back(rule);
  });
  // Given rules replace the built-in ones (an empty array: none).
  if (r.get("anomalies") != nullptr)
    rules.anomalies.clear();
  read_array(r, "anomalies", [&](const json& j, const std::string& path) {
    object_reader o{j, path};
    alerting::anomaly_rule rule;
    read_rule_common(o, rule);
    o.boolean("rate", rule.rate);
    auto& d = rule.detector;
    o.number("alpha", d.alpha, 0.001, 1);
    o.number("beta", d.beta, 0, 1);
    o.integer("window", d.window, 3, 10000);
    o.integer("warmup", d.warmup, 1, 100000);
    o.number("threshold", d.threshold, 0.5, 1000);
    o.finish();
    rules.anomalies.push_back(rule);
  });
  // Given rules replace the built-in ones (an empty array: none).
  if (r.get("inhibit") != nullptr)
    rules.inhibit.clear();
  read_array(r, "inhibit", [&](const json& j, const std::string& path) {
    object_reader o{j, path};
    alerting::inhibit_rule rule;
    rule.source = read_matchers(o, "source");
    rule.target = read_matchers(o, "target");
    rule.equal = read_strings(o, "equal");
    o.finish();
    rules.inhibit.push_back(rule);
  });
  r.object("route", [&](object_reader& o) {
    auto& rt = rules.routing;
    o.string("channel", rt.channel, false);
    if (auto* g = o.get("group_by"); g != nullptr)
      rt.group_by = read_strings(o, "group_by");
    o.integer("group_wait_ms", rt.group_wait_ms, 0, int64_t{1} << 40);
    o.integer("group_interval_ms", rt.group_interval_ms, 1, int64_t{1} << 40);
    o.integer("repeat_interval_ms", rt.repeat_interval_ms, 1, int64_t{1} << 40);
    o.boolean("send_resolved", rt.send_resolved);
    o.string("escalation_channel", rt.escalation_channel, false);
    o.integer("escalate_after_ms", rt.escalate_after_ms, 0, int64_t{1} << 40);
  });
  auto check_channel = [&](const std::string& name, const std::string& path) {
    if (names.count(name) == 0)
      throw config_failure{errc::bad_value, path,
                           "no channel named \"" + name + "\""};
  };
  check_channel(rules.routing.channel, r.child("route.channel"));
  if (!rules.routing.escalation_channel.empty())
    check_channel(rules.routing.escalation_channel,
                  r.child("route.escalation_channel"));
}

void read_node(object_reader& r, node_config& cfg, const std::string& base) {
  // The profile decides the defaults the other keys override.
  r.string("profile", cfg.profile, false);
  if (cfg.profile == "local") {
    cfg.supervision = supervision_config::local();
    cfg.health = health_config::local();
    cfg.store = store_config::local();
    cfg.transport = transport_config::local();
    cfg.membership = membership_config::local();
    cfg.spores = spores_config::local();
    cfg.gdb = gdb_config::local();
    cfg.isolation = isolation_config::local();
    cfg.services = services_config::local();
    cfg.alerting = alerting_section::local();
  } else if (cfg.profile != "lan") {
    throw config_failure{errc::bad_value, "profile",
                         "expected \"lan\" or \"local\", got \"" + cfg.profile +
                             "\""};
  }
  r.string("name", cfg.name, true);
  check_name("name", cfg.name);
  std::string listen;
  r.string("listen", listen, true);
  cfg.listen = to_endpoint("listen", listen);
  r.string("data_dir", cfg.data_dir, true);
  if (cfg.data_dir.empty())
    throw config_failure{errc::bad_value, "data_dir",
                         "expected a directory path, got \"\""};
  cfg.data_dir = resolve(base, cfg.data_dir);
  if (auto* seeds = r.get("seeds")) {
    if (!seeds->is_array())
      throw config_failure{errc::wrong_type, "seeds",
                           "expected an array of \"host:port\", got " +
                               type_name(*seeds)};
    for (size_t i = 0; i < seeds->size(); ++i) {
      auto path = "seeds[" + std::to_string(i) + "]";
      auto& s = (*seeds)[i];
      if (!s.is_string())
        throw config_failure{errc::wrong_type, path,
                             "expected a string \"host:port\", got " +
                                 type_name(s)};
      cfg.seeds.push_back(to_endpoint(path, s.get<std::string>()));
    }
  }
  r.string("network_id", cfg.network_id, true);
  check_name("network_id", cfg.network_id);
  auto& keys = r.require("isolation_keys", "an array of key file paths");
  if (!keys.is_array() || keys.empty())
    throw config_failure{
        keys.is_array() ? errc::bad_value : errc::wrong_type, "isolation_keys",
        "expected a non-empty array of key file paths, got " + type_name(keys)};
  for (size_t i = 0; i < keys.size(); ++i) {
    auto path = "isolation_keys[" + std::to_string(i) + "]";
    if (!keys[i].is_string())
      throw config_failure{errc::wrong_type, path,
                           "expected a key file path, got " +
                               type_name(keys[i])};
    cfg.isolation_keys.push_back(resolve(base, keys[i].get<std::string>()));
  }
  r.string("admin_key", cfg.admin_key, false);
  if (!cfg.admin_key.empty())
    cfg.admin_key = resolve(base, cfg.admin_key);
  r.boolean("allow_fault_injection", cfg.allow_fault_injection);
  r.object("log", [&](object_reader& o) {
    o.string("level", cfg.log.level, false);
    static const std::set<std::string> levels{"trace", "debug", "info",
                                              "warning", "error"};
    if (levels.count(cfg.log.level) == 0)
      throw config_failure{errc::bad_value, o.child("level"),
                           "expected one of trace, debug, info, warning, "
                           "error, got \"" +
                               cfg.log.level + "\""};
    o.string("file", cfg.log.file, false);
    if (!cfg.log.file.empty())
      cfg.log.file = resolve(base, cfg.log.file);
  });
  r.object("supervision", [&](object_reader& o) {
    auto& s = cfg.supervision;
    o.integer("max_restarts", s.max_restarts, 0, 1000);
    o.integer("restart_window_ms", s.restart_window_ms, 1, 86400000);
    o.integer("backoff_initial_ms", s.backoff_initial_ms, 0, 3600000);
    o.integer("backoff_max_ms", s.backoff_max_ms, 0, 3600000);
    o.number("backoff_jitter", s.backoff_jitter, 0.0, 1.0);
    o.integer("backoff_reset_ms", s.backoff_reset_ms, 0, 86400000);
    o.integer("shutdown_timeout_ms", s.shutdown_timeout_ms, 1, 600000);
    if (s.backoff_max_ms < s.backoff_initial_ms)
      throw config_failure{errc::bad_value, o.child("backoff_max_ms"),
                           "expected at least backoff_initial_ms (" +
                               std::to_string(s.backoff_initial_ms) + ")"};
  });
  r.object("health", [&](object_reader& o) {
    auto& h = cfg.health;
    o.integer("sample_interval_ms", h.sample_interval_ms, 10, 3600000);
    o.integer("history_max_samples", h.history_max_samples, 1, 10000000);
    o.integer("history_max_events", h.history_max_events, 1, 10000000);
  });
  r.object("transport", [&](object_reader& o) {
    auto& t = cfg.transport;
    o.integer("max_frame_bytes", t.max_frame_bytes, 1024, 1 << 30);
    o.integer("handshake_timeout_ms", t.handshake_timeout_ms, 10, 600000);
    o.integer("max_pending_handshakes", t.max_pending_handshakes, 1, 1000000);
    o.integer("connect_timeout_ms", t.connect_timeout_ms, 10, 600000);
    o.integer("reconnect_initial_ms", t.reconnect_initial_ms, 1, 3600000);
    o.integer("reconnect_max_ms", t.reconnect_max_ms, 1, 3600000);
    o.number("reconnect_jitter", t.reconnect_jitter, 0.0, 1.0);
    o.integer("max_queue_frames", t.max_queue_frames, 1, 10000000);
    o.integer("max_queue_bytes", t.max_queue_bytes, 1024, int64_t{1} << 34);
    o.integer("write_high_water_bytes", t.write_high_water_bytes, 1024,
              int64_t{1} << 34);
    o.integer("protocol_min", t.protocol_min, 1, 65535);
    o.integer("protocol_max", t.protocol_max, 1, 65535);
    o.integer("tick_ms", t.tick_ms, 1, 60000);
    o.integer("keepalive_ms", t.keepalive_ms, 10, 3600000);
    o.integer("dead_after_ms", t.dead_after_ms, 20, 86400000);
    if (t.dead_after_ms <= t.keepalive_ms)
      throw config_failure{errc::bad_value, o.child("dead_after_ms"),
                           "expected more than keepalive_ms (" +
                               std::to_string(t.keepalive_ms) + ")"};
    if (t.protocol_max < t.protocol_min)
      throw config_failure{errc::bad_value, o.child("protocol_max"),
                           "expected at least protocol_min (" +
                               std::to_string(t.protocol_min) + ")"};
    if (t.reconnect_max_ms < t.reconnect_initial_ms)
      throw config_failure{errc::bad_value, o.child("reconnect_max_ms"),
                           "expected at least reconnect_initial_ms"};
  });
  r.object("membership", [&](object_reader& o) {
    auto& m = cfg.membership;
    o.integer("probe_interval_ms", m.probe_interval_ms, 10, 600000);
    o.integer("probe_timeout_ms", m.probe_timeout_ms, 5, 600000);
    o.integer("indirect_checks", m.indirect_checks, 0, 32);
    o.number("suspicion_alpha", m.suspicion_alpha, 0.5, 100);
    o.number("suspicion_beta", m.suspicion_beta, 1, 100);
    o.integer("suspicion_confirmations", m.suspicion_confirmations, 1, 100);
    o.integer("retransmit_mult", m.retransmit_mult, 1, 100);
    o.integer("gossip_interval_ms", m.gossip_interval_ms, 10, 600000);
    o.integer("gossip_nodes", m.gossip_nodes, 0, 64);
    o.integer("push_pull_interval_ms", m.push_pull_interval_ms, 100, 86400000);
    o.integer("reconnect_interval_ms", m.reconnect_interval_ms, 100, 86400000);
    o.integer("awareness_max", m.awareness_max, 0, 64);
    o.integer("max_piggyback", m.max_piggyback, 1, 1024);
    o.integer("retain_failed_ms", m.retain_failed_ms, 0,
              int64_t{365} * 86400000);
    if (m.probe_timeout_ms >= m.probe_interval_ms)
      throw config_failure{errc::bad_value, o.child("probe_timeout_ms"),
                           "expected less than probe_interval_ms (" +
                               std::to_string(m.probe_interval_ms) + ")"};
  });
  r.object("spores", [&](object_reader& o) {
    auto& sp = cfg.spores;
    o.integer("slot_ms", sp.slot_ms, 100, 86400000);
    o.integer("sync_interval_ms", sp.sync_interval_ms, 50, 3600000);
    o.integer("buckets", sp.buckets, 1, 65536);
    o.integer("retention_ms", sp.retention_ms, 60000, int64_t{3650} * 86400000);
    o.integer("lww_tolerance_ms", sp.lww_tolerance_ms, 0, 3600000);
    o.integer("return_decision_ms", sp.return_decision_ms, 100, 3600000);
  });
  r.object("gdb", [&](object_reader& o) {
    auto& g = cfg.gdb;
    o.integer("max_key_bytes", g.max_key_bytes, 1, 65536);
    o.integer("max_value_bytes", g.max_value_bytes, 1, 16777216);
    o.integer("anti_entropy_interval_ms", g.anti_entropy_interval_ms, 100,
              86400000);
  });
  r.object("isolation", [&](object_reader& o) {
    auto& i = cfg.isolation;
    o.boolean("enabled", i.enabled);
    o.integer("grace_ms", i.grace_ms, 0, int64_t{7} * 86400000);
    o.integer("override_after_ms", i.override_after_ms, 0,
              int64_t{7} * 86400000);
    o.integer("auto_override_after_ms", i.auto_override_after_ms, 0,
              int64_t{365} * 86400000);
    o.number("min_disk_free_ratio", i.min_disk_free_ratio, 0.0, 1.0);
    o.integer("silence_ms", i.silence_ms, 0, int64_t{7} * 86400000);
    // Peers are heard at least every keepalive: a shorter silence would
    // take every quiet moment for a cut.
    if (i.silence_ms != 0 && i.silence_ms <= cfg.transport.keepalive_ms)
      throw config_failure{errc::bad_value, o.child("silence_ms"),
                           "expected 0 (off) or more than "
                           "transport.keepalive_ms (" +
                               std::to_string(cfg.transport.keepalive_ms) +
                               ")"};
  });
  r.object("services", [&](object_reader& o) {
    auto& sv = cfg.services;
    o.integer("tick_ms", sv.tick_ms, 50, 3600000);
    o.integer("settle_ms", sv.settle_ms, 0, 3600000);
    std::set<std::string> names;
    read_array(o, "hosted", [&](const json& j, const std::string& path) {
      object_reader h{j, path};
      services::service_spec spec;
      h.string("name", spec.name, true);
      check_name(h.child("name"), spec.name);
      if (!names.insert(spec.name).second)
        throw config_failure{errc::bad_value, h.child("name"),
                             "service \"" + spec.name + "\" is listed twice"};
      h.string("kind", spec.kind, true);
      if (!services::known_kind(spec.kind))
        throw config_failure{errc::bad_value, h.child("kind"),
                             "expected counter or kv, got \"" + spec.kind +
                                 "\""};
      h.string("merge", spec.merge, false);
      check_name(h.child("merge"), spec.merge);
      h.finish();
      sv.hosted.push_back(spec);
    });
  });
  r.object("metrics", [&](object_reader& o) {
    o.string("listen", cfg.metrics.listen, false);
    if (!cfg.metrics.listen.empty())
      to_endpoint(o.child("listen"), cfg.metrics.listen);
  });
  r.object("alerting",
           [&](object_reader& o) { read_alerting(o, cfg.alerting, base); });
  r.object("store", [&](object_reader& o) {
    o.integer("busy_timeout_ms", cfg.store.busy_timeout_ms, 0, 600000);
  });
  r.finish();
  // Checks against the file system come last: nothing above touched it.
  check_data_dir("data_dir", cfg.data_dir);
  for (size_t i = 0; i < cfg.isolation_keys.size(); ++i)
    cfg.isolation_key_hex.push_back(read_key_file(
        "isolation_keys[" + std::to_string(i) + "]", cfg.isolation_keys[i]));
  if (!cfg.admin_key.empty())
    cfg.admin_key_hex = read_key_file("admin_key", cfg.admin_key);
}

} // namespace

result<node_config> parse(const std::string& text, const std::string& path) {
  auto file = normalise(absolute(path));
  auto fail = [&](errc code, const std::string& msg) {
    return error{"config", static_cast<uint8_t>(code), path + ": " + msg};
  };
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // Turn the byte offset into a line and column.
    size_t line = 1;
    size_t column = 1;
    auto end = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    if (auto pos = what.find("syntax error"); pos != std::string::npos)
      what = what.substr(pos);
    return fail(errc::syntax, "line " + std::to_string(line) + ", column " +
                                  std::to_string(column) + ": " + what);
  } catch (const json::exception& e) {
    // A number too large for any type, say: not a parse_error, but as bad.
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos)
      what = what.substr(pos + 2);
    return fail(errc::syntax, "not valid JSON here: " + what);
  }
  node_config cfg;
  cfg.file = file;
  try {
    object_reader root{doc, ""};
    read_node(root, cfg, folder_of(file));
  } catch (const config_failure& f) {
    return fail(f.code, f.path + ": " + f.what);
  } catch (const json::exception& e) {
    return fail(errc::bad_value, e.what());
  }
  return cfg;
}

result<node_config> load(const std::string& path) {
  std::ifstream in{path};
  struct stat st;
  if (!in || ::stat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode))
    return error{"config", static_cast<uint8_t>(errc::unreadable),
                 path + ": cannot read the config file"};
  std::stringstream buf;
  buf << in.rdbuf();
  return parse(buf.str(), path);
}

} // namespace mycelium::config
