#include "mycelium/services/service_core.hpp"

#include "mycelium/core/fnv.hpp"

#include "mycelium/json/json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <tuple>

namespace mycelium::services {

namespace {

error fail(errc code, std::string what) {
  return error{"services", static_cast<uint8_t>(code), std::move(what)};
}

/// A whole signed integer, or nothing.
std::optional<int64_t> integer(const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    return std::nullopt;
  return v;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

} // namespace

const char* const record_prefix = "svc/";

bool known_kind(const std::string& kind) {
  return kind == "counter" || kind == "kv";
}

bool builtin_strategy(const std::string& merge) {
  return merge == "busiest" || merge == "newest";
}

namespace {

json lineage_json(const instance& i) {
  json out = json::array();
  for (auto& f : i.lineage)
    out.push_back({{"id", f.id}, {"state", f.state}, {"ops", f.ops}});
  return out;
}

} // namespace

std::string record_key(const instance& i) {
  return std::string{record_prefix} + i.service + "/" + i.id;
}

std::string encode(const instance& i) {
  return json{{"service", i.service},
              {"id", i.id},
              {"host", i.host},
              {"host_name", i.host_name},
              {"started_ms", i.started_ms},
              {"ops", i.ops},
              {"data_bytes", i.data_bytes},
              {"last_write_ms", i.last_write_ms},
              {"state", i.state},
              {"lineage", lineage_json(i)},
              {"absorbed", i.absorbed},
              {"frozen", i.frozen}}
      .dump();
}

result<instance> decode(const std::string& text) {
  auto doc = json::parse(text, nullptr, false);
  if (!doc.is_object())
    return fail(errc::bad_record, "a service record is not a JSON object");
  for (auto key : {"ops", "data_bytes", "started_ms", "last_write_ms"})
    if (doc.contains(key) && !doc[key].is_number_unsigned())
      return fail(errc::bad_record, std::string{"a service record's "} + key +
                                        " is not a whole number >= 0");
  instance i;
  try {
    i.service = doc.at("service").get<std::string>();
    i.id = doc.at("id").get<std::string>();
    i.host = doc.at("host").get<std::string>();
    i.host_name = doc.at("host_name").get<std::string>();
    i.started_ms = doc.at("started_ms").get<int64_t>();
    i.ops = doc.at("ops").get<uint64_t>();
    i.data_bytes = doc.at("data_bytes").get<uint64_t>();
    i.last_write_ms = doc.at("last_write_ms").get<int64_t>();
    i.state = doc.at("state").get<std::string>();
    if (!doc.at("lineage").is_array())
      return fail(errc::bad_record, "a service record's lineage is not an "
                                    "array");
    for (auto& f : doc.at("lineage")) {
      if (!f.at("ops").is_number_unsigned())
        return fail(errc::bad_record, "a service record's lineage ops is "
                                      "not a whole number >= 0");
      i.lineage.push_back({f.at("id").get<std::string>(),
                           f.at("state").get<std::string>(),
                           f.at("ops").get<uint64_t>()});
    }
    i.absorbed = doc.at("absorbed").get<std::vector<std::string>>();
    i.frozen = doc.at("frozen").get<bool>();
  } catch (const json::exception& e) {
    return fail(errc::bad_record, std::string{"a service record: "} + e.what());
  }
  if (i.service.empty() || i.id.empty() || i.host.empty())
    return fail(errc::bad_record,
                "a service record without service, id or host");
  if (i.service.find('/') != std::string::npos ||
      i.id.find('/') != std::string::npos)
    return fail(errc::bad_record, "a service record whose names hold '/'");
  return i;
}

std::string initial_state(const std::string& kind) {
  return kind == "counter" ? json{{"value", 0}}.dump() : json::object().dump();
}

result<op_result> apply(const std::string& kind, const std::string& state,
                        const std::vector<std::string>& op) {
  auto doc = json::parse(state, nullptr, false);
  if (!doc.is_object())
    return fail(errc::bad_record, "the service state is not a JSON object");
  auto usage = [&](const char* what) {
    return fail(errc::bad_operation, std::string{"usage: "} + what);
  };
  op_result r;
  if (kind == "counter") {
    auto value = doc.value("value", int64_t{0});
    if (op.size() == 1 && op[0] == "get") {
      r.answer = std::to_string(value);
    } else if (op.size() == 2 && op[0] == "add") {
      auto n = integer(op[1]);
      if (!n)
        return fail(errc::bad_operation,
                    "add needs a whole number, not '" + op[1] + "'");
      value += *n;
      doc["value"] = value;
      r.answer = std::to_string(value);
      r.changed = true;
    } else {
      return usage("add N | get");
    }
  } else if (kind == "kv") {
    if (op.size() == 3 && op[0] == "put") {
      doc[op[1]] = op[2];
      r.answer = "ok";
      r.changed = true;
    } else if (op.size() == 2 && op[0] == "get") {
      if (!doc.contains(op[1]) || !doc[op[1]].is_string())
        return fail(errc::bad_operation, "no key '" + op[1] + "'");
      r.answer = doc[op[1]].get<std::string>();
    } else if (op.size() == 2 && op[0] == "del") {
      r.answer = doc.erase(op[1]) ? "deleted" : "absent";
      r.changed = true;
    } else if (op.size() == 1 && op[0] == "list") {
      for (auto& [k, v] : doc.items())
        r.answer += (r.answer.empty() ? "" : " ") + k;
    } else {
      return usage("put KEY VALUE | get KEY | del KEY | list");
    }
  } else {
    return fail(errc::bad_operation, "unknown service kind '" + kind + "'");
  }
  try {
    r.state = doc.dump();
  } catch (const json::exception&) {
    return fail(errc::bad_operation, "keys and values must be UTF-8 text");
  }
  return r;
}

instance new_instance(const service_spec& spec,
                      const std::optional<instance>& from, std::string id,
                      std::string host, std::string host_name, wall_ms now) {
  instance i;
  i.service = spec.name;
  i.id = std::move(id);
  i.host = std::move(host);
  i.host_name = std::move(host_name);
  i.started_ms = now;
  i.last_write_ms = now;
  if (from) {
    i.state = from->state;
    i.ops = from->ops;
    i.lineage = from->lineage;
    i.lineage.push_back({from->id, from->state, from->ops});
  } else {
    i.state = initial_state(spec.kind);
  }
  i.data_bytes = i.state.size();
  return i;
}

instance after_operation(const instance& i, const op_result& r, wall_ms now) {
  auto next = i;
  next.state = r.state;
  next.ops += 1;
  next.data_bytes = r.state.size();
  next.last_write_ms = now;
  return next;
}

const instance& winner(const instance& a, const instance& b,
                       const std::string& strategy) {
  auto busiest = [](const instance& i) {
    return std::tie(i.ops, i.data_bytes, i.last_write_ms, i.id);
  };
  auto newest = [](const instance& i) {
    return std::tie(i.last_write_ms, i.ops, i.data_bytes, i.id);
  };
  if (strategy == "newest")
    return newest(a) >= newest(b) ? a : b;
  return busiest(a) >= busiest(b) ? a : b;
}

ancestor common_ancestor(const std::string& kind, const instance& a,
                         const instance& b) {
  using point = instance::fork_point;
  auto find = [](const instance& i, const std::string& id) -> const point* {
    for (auto& f : i.lineage)
      if (f.id == id)
        return &f;
    return nullptr;
  };
  if (auto* f = find(a, b.id))
    return {f->state, f->ops};
  if (auto* f = find(b, a.id))
    return {f->state, f->ops};
  for (auto it = a.lineage.rbegin(); it != a.lineage.rend(); ++it)
    if (auto* f = find(b, it->id))
      return it->ops <= f->ops ? ancestor{it->state, it->ops}
                               : ancestor{f->state, f->ops};
  return {initial_state(kind), 0};
}

instance absorb(const instance& w, const instance& l,
                const std::string& merged_state, const ancestor& base,
                wall_ms now) {
  instance m = w;
  m.state = merged_state;
  m.data_bytes = merged_state.size();
  m.ops = w.ops + (l.ops > base.ops ? l.ops - base.ops : 0);
  m.last_write_ms = std::max({w.last_write_ms, l.last_write_ms, now});
  m.absorbed.push_back(l.id);
  m.frozen = false;
  return m;
}

namespace {

/// The winner's, the loser's and the ancestor's states, each an object.
result<std::array<json, 3>> merge_inputs(const instance& w, const instance& l,
                                         const ancestor& base) {
  std::array<json, 3> out;
  const std::pair<const std::string*, const char*> in[] = {
      {&w.state, "winner's"},
      {&l.state, "loser's"},
      {&base.state, "ancestor's"}};
  for (size_t i = 0; i < 3; ++i) {
    out[i] = json::parse(*in[i].first, nullptr, false);
    if (!out[i].is_object())
      return fail(errc::bad_record, std::string{"the "} + in[i].second +
                                        " state is not a JSON object");
  }
  return out;
}

} // namespace

result<std::string> merged_state(const std::string& answer) {
  auto doc = json::parse(answer, nullptr, false);
  if (!doc.is_object())
    return fail(errc::bad_record,
                "the merge strategy answered a state that is not a JSON "
                "object");
  return doc.dump();
}

result<std::string> merge_counter_sum(const instance& w, const instance& l,
                                      const ancestor& base) {
  auto states = merge_inputs(w, l, base);
  if (!states)
    return states.err();
  auto& [a, b, o] = *states;
  auto value = [](const json& j) {
    auto v = j.find("value");
    return v != j.end() && v->is_number_integer() ? v->get<int64_t>()
                                                  : int64_t{0};
  };
  auto merged = a;
  merged["value"] = value(a) + value(b) - value(o);
  return merged.dump();
}

result<std::string> merge_kv_union(const instance& w, const instance& l,
                                   const ancestor& base) {
  auto states = merge_inputs(w, l, base);
  if (!states)
    return states.err();
  auto& [a, b, o] = *states;
  auto merged = a;
  // What the loser changed since the ancestor and the winner did not.
  for (auto& [k, v] : b.items())
    if (!o.contains(k) || o[k] != v) {
      bool winner_changed =
          (a.contains(k) ? std::optional<json>{a[k]} : std::nullopt) !=
          (o.contains(k) ? std::optional<json>{o[k]} : std::nullopt);
      if (!winner_changed)
        merged[k] = v;
    }
  // What the loser deleted and the winner left as it was.
  for (auto& [k, v] : o.items())
    if (!b.contains(k) && a.contains(k) && a[k] == v)
      merged.erase(k);
  return merged.dump();
}

std::string owner(const std::string& service,
                  const std::set<std::string>& nodes) {
  std::string best;
  uint64_t best_score = 0;
  for (auto& n : nodes) {
    fnv1a h;
    h.add(service);
    h.add(n);
    auto score = h.value();
    if (best.empty() || score > best_score ||
        (score == best_score && n < best)) {
      best = n;
      best_score = score;
    }
  }
  return best;
}

const service_spec* placement_core::spec(const std::string& service) const {
  for (auto& s : specs_)
    if (s.name == service)
      return &s;
  return nullptr;
}

effects placement_core::decide(const view& v) const {
  effects fx;
  std::map<std::string, std::vector<const instance*>> live, unreachable;
  for (auto& r : v.records)
    (v.live.count(r.host) != 0 ? live : unreachable)[r.service].push_back(&r);
  for (auto& s : specs_) {
    auto& mine = live[s.name];
    if (mine.empty()) {
      // Nothing reachable runs it: the owner among the reachable nodes
      // starts it, from the newest record of an unreachable instance.
      bool running_here = false;
      for (auto& r : v.records)
        running_here |= r.service == s.name && v.running.count(r.id) != 0;
      if (!v.may_start || running_here || owner(s.name, v.live) != self_)
        continue;
      const instance* newest = nullptr;
      for (auto* r : unreachable[s.name])
        if (!newest ||
            std::tie(r->last_write_ms, r->ops, r->id) >
                std::tie(newest->last_write_ms, newest->ops, newest->id))
          newest = r;
      fx.starts.push_back(
          {s.name, newest ? std::optional<instance>{*newest} : std::nullopt});
      continue;
    }
    if (mine.size() == 1) {
      // No split (any more): a frozen instance of ours takes operations
      // again.
      if (mine.front()->host == self_ && mine.front()->frozen)
        fx.freezes.push_back({s.name, mine.front()->id, false});
      continue;
    }
    // Several reachable instances: a split to resolve.
    const instance* w = mine.front();
    for (auto* r : mine)
      w = &winner(*w, *r, s.merge);
    for (auto* l : mine) {
      if (l == w)
        continue;
      if (!builtin_strategy(s.merge) && !contains(w->absorbed, l->id) &&
          !l->frozen) {
        // The loser's final state first.
        if (l->host == self_)
          fx.freezes.push_back({s.name, l->id, true});
        continue;
      }
      if (builtin_strategy(s.merge) || contains(w->absorbed, l->id)) {
        if (l->host == self_)
          fx.terminations.push_back(
              {s.name, l->id,
               builtin_strategy(s.merge)
                   ? "split resolved (" + s.merge + "): " + w->id + " on " +
                         w->host_name + " kept, " + std::to_string(w->ops) +
                         " ops against " + std::to_string(l->ops)
                   : "split resolved (" + s.merge + "): state merged into " +
                         w->id + " on " + w->host_name});
      } else if (w->host == self_) {
        fx.merges.push_back({s.name, w->id, *l, s.merge});
      }
    }
    // Records of unreachable instances the winner absorbed can go.
    if (w->host == self_)
      for (auto* r : unreachable[s.name])
        if (contains(w->absorbed, r->id))
          fx.stale_records.push_back(record_key(*r));
  }
  return fx;
}

} // namespace mycelium::services
