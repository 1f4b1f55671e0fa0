#include "mycelium/alerting/alert_core.hpp"

#include "mycelium/json/json.hpp"
#include "mycelium/core/fnv.hpp"

#include <algorithm>
#include <cstdio>

namespace mycelium::alerting {

namespace {

error fail(std::string what) {
  return error{"alerting", 1, std::move(what)};
}

std::string fingerprint(const label_set& l) {
  fnv1a h;
  for (auto& [k, v] : l) {
    h.add(k);
    h.add(v);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(h.value()));
  return buf;
}

bool compare(comparison c, double a, double b) {
  switch (c) {
  case comparison::gt:
    return a > b;
  case comparison::ge:
    return a >= b;
  case comparison::lt:
    return a < b;
  case comparison::le:
    return a <= b;
  case comparison::eq:
    return a == b;
  case comparison::ne:
    return a != b;
  }
  return false;
}

/// Sets `name` in `l` (replacing an earlier value), keeping `l` sorted.
void put_label(label_set& l, const std::string& name,
               const std::string& value) {
  for (auto& p : l)
    if (p.first == name) {
      p.second = value;
      return;
    }
  l.emplace_back(name, value);
  std::sort(l.begin(), l.end());
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// Replaces {{label}} by the label's value, {{value}} by the value and
/// {{forecast}} by an anomaly rule's forecast.
std::string expand(const std::string& tmpl, const label_set& l, double value,
                   double forecast) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    auto open = tmpl.find("{{", i);
    auto close = open == std::string::npos ? open : tmpl.find("}}", open);
    if (close == std::string::npos) {
      out += tmpl.substr(i);
      break;
    }
    out += tmpl.substr(i, open - i);
    auto name = tmpl.substr(open + 2, close - open - 2);
    if (name == "value") {
      out += format_value(value);
    } else if (name == "forecast") {
      out += format_value(forecast);
    } else {
      for (auto& [k, v] : l)
        if (k == name)
          out += v;
    }
    i = close + 2;
  }
  return out;
}

json to_json(const label_set& l) {
  json o = json::object();
  for (auto& [k, v] : l)
    o[k] = v;
  return o;
}

label_set labels_of(const json& o) {
  label_set l;
  for (auto& [k, v] : o.items())
    l.emplace_back(k, v.get<std::string>());
  std::sort(l.begin(), l.end());
  return l;
}

} // namespace

bool matcher::matches(const label_set& l) const {
  std::string have;
  for (auto& [k, v] : l)
    if (k == label)
      have = v;
  return (have == value) != negate;
}

result<std::vector<matcher>> parse_matchers(const std::string& text) {
  std::vector<matcher> out;
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto part = text.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start);
    auto eq = part.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail("matcher '" + part + "' is not LABEL=VALUE or LABEL!=VALUE");
    matcher m;
    m.negate = part[eq - 1] == '!';
    m.label = part.substr(0, m.negate ? eq - 1 : eq);
    m.value = part.substr(eq + 1);
    if (!metrics::valid_label_name(m.label))
      return fail("matcher '" + part + "': '" + m.label +
                  "' is not a label name");
    out.push_back(std::move(m));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

std::string to_string(const std::vector<matcher>& ms) {
  std::string out;
  for (auto& m : ms) {
    if (!out.empty())
      out += ',';
    out += m.label + (m.negate ? "!=" : "=") + m.value;
  }
  return out;
}

result<int64_t> parse_duration_ms(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  auto unit = text.substr(digits);
  static const std::pair<const char*, int64_t> units[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  if (digits == 0 || digits > 9)
    return fail("duration '" + text + "' is not a number with a unit");
  auto n = std::stoll(text.substr(0, digits));
  for (auto& [name, ms] : units)
    if (unit == name && n > 0)
      return n * ms;
  return fail("duration '" + text +
              "' needs a positive number and a unit: ms, s, m, h or d");
}

result<comparison> parse_comparison(const std::string& text) {
  static const std::pair<const char*, comparison> ops[] = {
      {">", comparison::gt},  {">=", comparison::ge}, {"<", comparison::lt},
      {"<=", comparison::le}, {"==", comparison::eq}, {"!=", comparison::ne}};
  for (auto& [s, c] : ops)
    if (text == s)
      return c;
  return fail("condition '" + text + "' is not one of > >= < <= == !=");
}

const char* to_string(comparison c) {
  static const char* const names[] = {">", ">=", "<", "<=", "==", "!="};
  return names[static_cast<int>(c)];
}

std::string alert::label(const std::string& name) const {
  for (auto& [k, v] : labels)
    if (k == name)
      return v;
  return {};
}

void alert_core::activate(const label_set& series, const std::string& rule,
                          const std::string& sev, const std::string& summary,
                          double value, int64_t for_ms, int64_t now,
                          std::set<std::string>& seen, double forecast) {
  auto l = series;
  put_label(l, "alertname", rule);
  put_label(l, "severity", sev);
  auto id = fingerprint(l);
  seen.insert(id);
  auto& a = alerts_[id];
  if (a.id.empty() || a.state == "resolved") {
    a = alert{};
    a.id = id;
    a.labels = l;
    a.active_since = now;
  }
  a.value = value;
  a.summary = expand(summary, l, value, forecast);
  if (a.state == "pending" && now - a.active_since >= for_ms) {
    a.state = "firing";
    a.fired_at = now;
  }
}

alert_effects alert_core::evaluate(const std::vector<metrics::sample>& samples,
                                   int64_t now) {
  alert_effects fx;
  auto before = save();
  auto n = silences_.size();
  silences_.erase(
      std::remove_if(silences_.begin(), silences_.end(),
                     [&](const silence& s) { return s.until_ms <= now; }),
      silences_.end());
  fx.changed = n != silences_.size();

  auto finish_rule = [&](const std::string& rule, std::set<std::string> seen) {
    for (auto& id : by_rule_[rule]) {
      if (seen.count(id) != 0)
        continue;
      auto it = alerts_.find(id);
      if (it == alerts_.end())
        continue;
      if (it->second.state == "pending") {
        alerts_.erase(it);
      } else if (it->second.state == "firing") {
        it->second.state = "resolved";
        it->second.resolved_at = now;
      }
    }
    by_rule_[rule] = std::move(seen);
  };

  for (auto& r : cfg_.rules) {
    std::set<std::string> seen;
    for (auto& s : samples) {
      if (s.name != r.metric || !metrics::labels_match(s.labels, r.match) ||
          !compare(r.cmp, s.value, r.value))
        continue;
      auto l = s.labels;
      for (auto& [k, v] : r.extra)
        put_label(l, k, v);
      activate(l, r.name, r.severity, r.summary, s.value, r.for_ms, now, seen);
    }
    finish_rule(r.name, std::move(seen));
  }

  for (auto& r : cfg_.anomalies) {
    std::set<std::string> seen;
    for (auto& s : samples) {
      if (s.name != r.metric || !metrics::labels_match(s.labels, r.match))
        continue;
      auto key = r.name + "/" + metrics::series_name(s.name, s.labels);
      auto [it, fresh] = detectors_.try_emplace(key);
      auto& st = it->second;
      if (fresh)
        st.det = detector{r.detector};
      double x = s.value;
      bool usable = true;
      if (r.rate) {
        usable = st.has_last && now > st.last_time && s.value >= st.last_raw;
        if (usable)
          x = (s.value - st.last_raw) * 1000.0 /
              static_cast<double>(now - st.last_time);
        st.last_raw = s.value;
        st.last_time = now;
        st.has_last = true;
      }
      if (!usable)
        continue;
      auto forecast = st.det.forecast();
      auto score = st.det.update(x);
      if (!st.det.anomalous(score))
        continue;
      auto l = s.labels;
      for (auto& [k, v] : r.extra)
        put_label(l, k, v);
      activate(l, r.name, r.severity, r.summary, x, r.for_ms, now, seen,
               forecast);
    }
    finish_rule(r.name, std::move(seen));
  }

  // Alerts of rules no longer configured (config changed across a
  // restart) resolve instead of firing forever.
  for (auto it = by_rule_.begin(); it != by_rule_.end();) {
    auto& rule = it->first;
    bool known =
        std::any_of(cfg_.rules.begin(), cfg_.rules.end(),
                    [&](const threshold_rule& r) { return r.name == rule; }) ||
        std::any_of(cfg_.anomalies.begin(), cfg_.anomalies.end(),
                    [&](const anomaly_rule& r) { return r.name == rule; });
    if (known) {
      ++it;
      continue;
    }
    finish_rule(rule, {});
    it = by_rule_.erase(it);
  }

  update_suppression(now);
  escalate(now, fx);
  flush_groups(now, fx);

  for (auto it = alerts_.begin(); it != alerts_.end();) {
    auto& a = it->second;
    if (a.state == "resolved" && a.resolved_notified &&
        now - a.resolved_at >= cfg_.resolved_retention_ms)
      it = alerts_.erase(it);
    else
      ++it;
  }
  fx.changed = fx.changed || save() != before;
  return fx;
}

void alert_core::update_suppression(int64_t now) {
  auto all_match = [](const std::vector<matcher>& ms, const label_set& l) {
    return std::all_of(ms.begin(), ms.end(),
                       [&](const matcher& m) { return m.matches(l); });
  };
  for (auto& entry : alerts_) {
    auto& a = entry.second;
    a.silenced = false;
    for (auto& s : silences_)
      a.silenced =
          a.silenced || (s.until_ms > now && all_match(s.matchers, a.labels));
  }
  for (auto& entry : alerts_) {
    auto& a = entry.second;
    a.inhibited = false;
    for (auto& r : cfg_.inhibit) {
      if (!all_match(r.target, a.labels))
        continue;
      for (auto& other : alerts_) {
        auto& s = other.second;
        if (other.first == entry.first || s.state != "firing" ||
            !all_match(r.source, s.labels))
          continue;
        bool equal = std::all_of(
            r.equal.begin(), r.equal.end(),
            [&](const std::string& n) { return s.label(n) == a.label(n); });
        if (equal) {
          a.inhibited = true;
          break;
        }
      }
      if (a.inhibited)
        break;
    }
  }
}

std::string alert_core::group_key(const alert& a,
                                  label_set& group_labels) const {
  group_labels.clear();
  for (auto& name : cfg_.routing.group_by) {
    auto v = a.label(name);
    if (!v.empty())
      group_labels.emplace_back(name, v);
  }
  std::sort(group_labels.begin(), group_labels.end());
  return metrics::series_name("", group_labels);
}

void alert_core::escalate(int64_t now, alert_effects& fx) {
  auto& r = cfg_.routing;
  if (r.escalate_after_ms <= 0 || r.escalation_channel.empty())
    return;
  for (auto& [id, a] : alerts_) {
    if (a.state != "firing" || a.label("severity") != "critical" || a.acked ||
        a.escalated || a.inhibited || a.silenced ||
        now - a.fired_at < r.escalate_after_ms)
      continue;
    a.escalated = true;
    notification n;
    n.channel = r.escalation_channel;
    n.status = "firing";
    n.group_key = "escalation/" + id;
    n.group_labels = a.labels;
    n.alerts = {a};
    n.escalation = true;
    fx.notify.push_back(std::move(n));
  }
}

void alert_core::flush_groups(int64_t now, alert_effects& fx) {
  auto& r = cfg_.routing;
  // Notifiable alerts by group.
  std::map<std::string, std::vector<alert*>> members;
  for (auto& [id, a] : alerts_) {
    if (a.inhibited || a.silenced || a.state == "pending")
      continue;
    if (a.state == "resolved" && a.resolved_notified)
      continue;
    label_set gl;
    auto key = group_key(a, gl);
    members[key].push_back(&a);
    if (a.state == "firing" && groups_.count(key) == 0) {
      auto& g = groups_[key];
      g.group_labels = gl;
      g.next_flush = now + r.group_wait_ms;
    }
  }
  for (auto it = groups_.begin(); it != groups_.end();) {
    auto& [key, g] = *it;
    auto& list = members[key];
    if (now < g.next_flush) {
      ++it;
      continue;
    }
    std::set<std::string> firing;
    std::vector<alert*> resolved;
    for (auto* a : list) {
      if (a->state == "firing") {
        firing.insert(a->id);
      } else if (g.notified.count(a->id) != 0 && r.send_resolved) {
        resolved.push_back(a);
      } else {
        a->resolved_notified = true; // never announced: nothing to resolve
      }
    }
    bool news = firing != g.notified || !resolved.empty();
    bool repeat = !firing.empty() && now - g.last_sent >= r.repeat_interval_ms;
    if ((news || repeat) && (!firing.empty() || !resolved.empty())) {
      notification n;
      n.channel = r.channel;
      n.status = firing.empty() ? "resolved" : "firing";
      n.group_key = key;
      n.group_labels = g.group_labels;
      for (auto* a : list)
        if (a->state == "firing" ||
            std::find(resolved.begin(), resolved.end(), a) != resolved.end())
          n.alerts.push_back(*a);
      fx.notify.push_back(std::move(n));
      g.last_sent = now;
    }
    for (auto* a : resolved)
      a->resolved_notified = true;
    g.notified = firing;
    g.next_flush = now + r.group_interval_ms;
    if (firing.empty())
      it = groups_.erase(it);
    else
      ++it;
  }
  // Resolved alerts of groups that no longer exist were never announced.
  for (auto& [id, a] : alerts_) {
    if (a.state != "resolved" || a.resolved_notified)
      continue;
    label_set gl;
    if (groups_.count(group_key(a, gl)) == 0)
      a.resolved_notified = true;
  }
}

status alert_core::ack(const std::string& id, int64_t now) {
  auto it = alerts_.find(id);
  if (it == alerts_.end())
    return error{"alerting", 2, "no alert '" + id + "'"};
  it->second.acked = true;
  it->second.acked_at = now;
  return ok();
}

std::string alert_core::add_silence(std::vector<matcher> m, int64_t now,
                                    int64_t duration_ms, std::string comment) {
  silence s;
  s.id = "s" + std::to_string(next_silence_++);
  s.matchers = std::move(m);
  s.created_ms = now;
  s.until_ms = now + duration_ms;
  s.comment = std::move(comment);
  silences_.push_back(s);
  update_suppression(now);
  return s.id;
}

bool alert_core::expire_silence(const std::string& id) {
  auto n = silences_.size();
  silences_.erase(std::remove_if(silences_.begin(), silences_.end(),
                                 [&](const silence& s) { return s.id == id; }),
                  silences_.end());
  return n != silences_.size();
}

std::string alert_core::save() const {
  json alerts = json::array();
  for (auto& [id, a] : alerts_)
    alerts.push_back({{"id", a.id},
                      {"labels", to_json(a.labels)},
                      {"summary", a.summary},
                      {"state", a.state},
                      {"value", a.value},
                      {"active_since", a.active_since},
                      {"fired_at", a.fired_at},
                      {"resolved_at", a.resolved_at},
                      {"acked", a.acked},
                      {"acked_at", a.acked_at},
                      {"escalated", a.escalated},
                      {"resolved_notified", a.resolved_notified}});
  json groups = json::object();
  for (auto& [key, g] : groups_)
    groups[key] = {{"labels", to_json(g.group_labels)},
                   {"next_flush", g.next_flush},
                   {"last_sent", g.last_sent},
                   {"notified", g.notified}};
  json silences = json::array();
  for (auto& s : silences_)
    silences.push_back({{"id", s.id},
                        {"matchers", to_string(s.matchers)},
                        {"created_ms", s.created_ms},
                        {"until_ms", s.until_ms},
                        {"comment", s.comment}});
  json rules = json::object();
  for (auto& [rule, ids] : by_rule_)
    rules[rule] = ids;
  return json{{"alerts", alerts},
              {"groups", groups},
              {"silences", silences},
              {"by_rule", rules},
              {"next_silence", next_silence_}}
      .dump();
}

status alert_core::load(const std::string& text) {
  auto doc = json::parse(text, nullptr, false);
  if (!doc.is_object())
    return fail("stored alert state is not a JSON object");
  try {
    std::map<std::string, alert> alerts;
    for (auto& j : doc.at("alerts")) {
      alert a;
      a.id = j.at("id").get<std::string>();
      a.labels = labels_of(j.at("labels"));
      a.summary = j.at("summary").get<std::string>();
      a.state = j.at("state").get<std::string>();
      a.value = j.at("value").get<double>();
      a.active_since = j.at("active_since").get<int64_t>();
      a.fired_at = j.at("fired_at").get<int64_t>();
      a.resolved_at = j.at("resolved_at").get<int64_t>();
      a.acked = j.at("acked").get<bool>();
      a.acked_at = j.at("acked_at").get<int64_t>();
      a.escalated = j.at("escalated").get<bool>();
      a.resolved_notified = j.at("resolved_notified").get<bool>();
      alerts[a.id] = a;
    }
    std::map<std::string, group> groups;
    for (auto& [key, j] : doc.at("groups").items()) {
      group g;
      g.group_labels = labels_of(j.at("labels"));
      g.next_flush = j.at("next_flush").get<int64_t>();
      g.last_sent = j.at("last_sent").get<int64_t>();
      g.notified = j.at("notified").get<std::set<std::string>>();
      groups[key] = g;
    }
    std::vector<silence> silences;
    for (auto& j : doc.at("silences")) {
      silence s;
      s.id = j.at("id").get<std::string>();
      auto m = parse_matchers(j.at("matchers").get<std::string>());
      if (!m)
        return m.err();
      s.matchers = *m;
      s.created_ms = j.at("created_ms").get<int64_t>();
      s.until_ms = j.at("until_ms").get<int64_t>();
      s.comment = j.at("comment").get<std::string>();
      silences.push_back(s);
    }
    std::map<std::string, std::set<std::string>> by_rule;
    for (auto& [rule, ids] : doc.at("by_rule").items())
      by_rule[rule] = ids.get<std::set<std::string>>();
    auto next = doc.at("next_silence").get<uint64_t>();
    alerts_ = std::move(alerts);
    groups_ = std::move(groups);
    silences_ = std::move(silences);
    by_rule_ = std::move(by_rule);
    next_silence_ = next;
  } catch (const json::exception& e) {
    return fail(std::string{"stored alert state is damaged: "} + e.what());
  }
  return ok();
}

} // namespace mycelium::alerting
