#include "mycelium/isolation/isolation_core.hpp"

#include "mycelium/json/json.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace mycelium::isolation {

namespace {

error fail(errc code, std::string what) {
  return error{"isolation", static_cast<uint8_t>(code), std::move(what)};
}

/// "12.3 s" for a span in ms.
std::string seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", ratio * 100.0);
  return buf;
}

const mode all_modes[] = {mode::connected, mode::isolated, mode::overridden};

} // namespace

const char* to_string(mode m) {
  switch (m) {
  case mode::connected:
    return "connected";
  case mode::isolated:
    return "isolated";
  case mode::overridden:
    return "overridden";
  }
  return "?";
}

const char* to_string(event::type t) {
  switch (t) {
  case event::type::isolated:
    return "isolated";
  case event::type::rejoined:
    return "rejoined";
  case event::type::overridden:
    return "overridden";
  case event::type::override_revoked:
    return "override_revoked";
  }
  return "?";
}

view make_view(const std::vector<member_seen>& members,
               const std::vector<known_node>& spores, const std::string& self,
               int64_t heard_ago_ms) {
  auto add_address = [](known_node& n, const std::string& a) {
    if (!a.empty() && std::find(n.addresses.begin(), n.addresses.end(), a) ==
                          n.addresses.end())
      n.addresses.push_back(a);
  };
  std::map<std::string, known_node> unreachable;
  for (auto& n : spores)
    unreachable[n.id] = n;
  view v;
  for (auto& m : members) {
    if (m.id == self)
      continue;
    switch (m.st) {
    case member_seen::status::reachable: {
      ++v.reachable;
      auto& n = v.reachable_nodes.emplace_back();
      n.id = m.id;
      n.name = m.name;
      if (auto s = unreachable.find(m.id); s != unreachable.end())
        n.addresses = s->second.addresses;
      add_address(n, m.address);
      unreachable.erase(m.id);
      break;
    }
    case member_seen::status::left:
      unreachable.erase(m.id);
      break;
    case member_seen::status::failed: {
      auto& n = unreachable[m.id];
      n.id = m.id;
      if (n.name.empty())
        n.name = m.name;
      add_address(n, m.address);
      break;
    }
    }
  }
  unreachable.erase(self);
  for (auto& [id, n] : unreachable)
    v.unreachable.push_back(n);
  v.heard_ago_ms = heard_ago_ms;
  return v;
}

std::vector<std::string> isolation_core::shortfalls(const resources& r) const {
  std::vector<std::string> out;
  if (!(r.disk_free_ratio >= settings_.min_disk_free_ratio))
    out.push_back("disk free " + percent(r.disk_free_ratio) + " is below " +
                  percent(settings_.min_disk_free_ratio) +
                  " (isolation.min_disk_free_ratio)");
  for (auto& c : r.failing_stores)
    out.push_back("store writes of " + c + " are failing");
  return out;
}

effects isolation_core::leave_isolation(const view& v, wall_ms now) {
  effects fx;
  auto was = state_.current;
  if (was != mode::connected) {
    fx.changed = true;
    fx.events.push_back(
        {event::type::rejoined, now,
         std::to_string(v.reachable) + " peer(s) reachable again after " +
             seconds(now - state_.isolated_since) + " " + to_string(was)});
  }
  state_ = state{};
  dialed_.clear();
  return fx;
}

bool isolation_core::silent(const view& v) const {
  return settings_.silence_ms > 0 && v.heard_ago_ms >= settings_.silence_ms;
}

view isolation_core::effective(const view& seen) const {
  view v = seen;
  if (silent(v) && v.reachable > 0) {
    // Members membership still shows reachable, but nothing of them
    // arrives: they are known and not reached.
    v.unreachable.insert(v.unreachable.end(), v.reachable_nodes.begin(),
                         v.reachable_nodes.end());
    v.reachable = 0;
    v.reachable_nodes.clear();
  }
  return v;
}

effects isolation_core::observe(const view& seen, const resources& r,
                                wall_ms now) {
  auto v = effective(seen);
  bool alone = settings_.enabled && v.reachable == 0 && !v.unreachable.empty();
  if (!alone)
    return leave_isolation(v, now);
  effects fx;
  if (state_.alone_since == 0)
    state_.alone_since = now;
  if (state_.current == mode::connected) {
    if (now - state_.alone_since < settings_.grace_ms)
      return fx;
    state_.current = mode::isolated;
    state_.isolated_since = now;
    fx.changed = true;
    fx.events.push_back(
        {event::type::isolated, now,
         "no peer reachable for " + seconds(now - state_.alone_since) + " (" +
             std::to_string(v.unreachable.size()) + " known" +
             (silent(seen)
                  ? ", nothing heard from any for " + seconds(seen.heard_ago_ms)
                  : std::string{}) +
             "); read-only until a peer is back or an override"});
  }
  // Every address known while isolated goes to the transport once: it
  // keeps dialing each with its own backoff.
  for (auto& n : v.unreachable)
    for (auto& a : n.addresses)
      if (dialed_.insert(a).second)
        fx.dial.push_back(a);
  auto lacking = shortfalls(r);
  if (state_.current == mode::overridden && !lacking.empty()) {
    state_.current = mode::isolated;
    fx.changed = true;
    fx.events.push_back({event::type::override_revoked, now,
                         "override revoked: " + lacking.front()});
    state_.overridden_at = 0;
    state_.overridden_by.clear();
    state_.override_reason.clear();
  } else if (state_.current == mode::isolated &&
             settings_.auto_override_after_ms > 0 &&
             now - state_.isolated_since >= settings_.auto_override_after_ms &&
             lacking.empty()) {
    auto auto_fx = override_isolation(
        "auto", "isolation.auto_override_after_ms elapsed", true, r, now);
    if (auto_fx) {
      fx.changed = true;
      fx.events.insert(fx.events.end(), auto_fx->events.begin(),
                       auto_fx->events.end());
    }
  }
  return fx;
}

result<effects> isolation_core::override_isolation(const std::string& by,
                                                   const std::string& reason,
                                                   bool force,
                                                   const resources& r,
                                                   wall_ms now) {
  if (state_.current == mode::connected)
    return fail(errc::not_isolated,
                "the node is not isolated: nothing to override");
  if (state_.current == mode::overridden)
    return fail(errc::not_isolated,
                "already overridden by " + state_.overridden_by + " " +
                    seconds(now - state_.overridden_at) + " ago");
  auto lasted = now - state_.isolated_since;
  if (!force && lasted < settings_.override_after_ms)
    return fail(errc::too_early,
                "isolated for " + seconds(lasted) +
                    "; an override is possible after " +
                    seconds(settings_.override_after_ms) +
                    " (isolation.override_after_ms), or now with --force");
  auto lacking = shortfalls(r);
  if (!lacking.empty()) {
    std::string all;
    for (auto& l : lacking)
      all += (all.empty() ? "" : "; ") + l;
    return fail(errc::insufficient_resources,
                "resources insufficient for writes: " + all);
  }
  state_.current = mode::overridden;
  state_.overridden_at = now;
  state_.overridden_by = by;
  state_.override_reason = reason;
  effects fx;
  fx.changed = true;
  fx.events.push_back({event::type::overridden, now,
                       "override by " + by + " after " + seconds(lasted) +
                           " isolated" + (reason.empty() ? "" : ": " + reason) +
                           "; writes accepted, merged when peers return"});
  return fx;
}

result<effects> isolation_core::revoke(const std::string& by, wall_ms now) {
  if (state_.current != mode::overridden)
    return fail(errc::not_overridden,
                "no override is in force (the node is " +
                    std::string{to_string(state_.current)} + ")");
  state_.current = mode::isolated;
  state_.overridden_at = 0;
  state_.overridden_by.clear();
  state_.override_reason.clear();
  effects fx;
  fx.changed = true;
  fx.events.push_back({event::type::override_revoked, now,
                       "override revoked by " + by + "; read-only again"});
  return fx;
}

std::string isolation_core::read_only_reason() const {
  if (!read_only())
    return {};
  return "the node is isolated (no peer reachable): read-only until a peer "
         "is back or an operator overrides (mycelium isolation override)";
}

std::string isolation_core::save() const {
  return json{{"mode", to_string(state_.current)},
              {"alone_since_ms", state_.alone_since},
              {"isolated_since_ms", state_.isolated_since},
              {"overridden_at_ms", state_.overridden_at},
              {"overridden_by", state_.overridden_by},
              {"override_reason", state_.override_reason}}
      .dump();
}

status isolation_core::load(const std::string& text) {
  auto doc = json::parse(text, nullptr, false);
  if (!doc.is_object())
    return fail(errc::bad_state, "the stored isolation state is not a JSON "
                                 "object");
  state s;
  try {
    auto name = doc.at("mode").get<std::string>();
    bool known = false;
    for (auto m : all_modes)
      if (name == to_string(m)) {
        s.current = m;
        known = true;
      }
    if (!known)
      return fail(errc::bad_state,
                  "unknown isolation mode '" + name.substr(0, 40) + "'");
    s.alone_since = doc.at("alone_since_ms").get<int64_t>();
    s.isolated_since = doc.at("isolated_since_ms").get<int64_t>();
    s.overridden_at = doc.at("overridden_at_ms").get<int64_t>();
    s.overridden_by = doc.at("overridden_by").get<std::string>();
    s.override_reason = doc.at("override_reason").get<std::string>();
  } catch (const json::exception& e) {
    return fail(errc::bad_state,
                std::string{"the stored isolation state: "} + e.what());
  }
  if (s.alone_since < 0 || s.isolated_since < 0 || s.overridden_at < 0 ||
      (s.current != mode::connected && s.isolated_since == 0))
    return fail(errc::bad_state,
                "the stored isolation state has impossible times");
  state_ = std::move(s);
  dialed_.clear();
  return ok();
}

} // namespace mycelium::isolation
