#include "mycelium/gdb/crdt.hpp"

#include <algorithm>
#include <tuple>

namespace mycelium::gdb {

// -- causal_context ---------------------------------------------------------

bool causal_context::contains(const dot& d) const {
  auto i = vv_.find(d.replica);
  return (i != vv_.end() && d.counter <= i->second) || cloud_.count(d) != 0;
}

dot causal_context::next(const replica_id& r) {
  auto c = ++vv_[r];
  return {r, c};
}

void causal_context::add(const dot& d) {
  if (contains(d))
    return;
  cloud_.insert(d);
  compact();
}

void causal_context::merge(const causal_context& o) {
  for (auto& [r, c] : o.vv_) {
    auto& mine = vv_[r];
    mine = std::max(mine, c);
  }
  cloud_.insert(o.cloud_.begin(), o.cloud_.end());
  compact();
}

void causal_context::merge_vector_entry(const replica_id& r, uint64_t counter) {
  if (counter == 0)
    return;
  auto& mine = vv_[r];
  mine = std::max(mine, counter);
  compact();
}

void causal_context::compact() {
  // The cloud is ordered by replica, then counter: one pass folds every run
  // that continues a replica's vector entry and drops what it covers.
  for (auto i = cloud_.begin(); i != cloud_.end();) {
    auto& top = vv_[i->replica];
    if (i->counter <= top) {
      i = cloud_.erase(i);
    } else if (i->counter == top + 1) {
      top = i->counter;
      i = cloud_.erase(i);
    } else {
      ++i;
    }
  }
  for (auto i = vv_.begin(); i != vv_.end();)
    i = i->second == 0 ? vv_.erase(i) : std::next(i);
}

// -- lww_register -----------------------------------------------------------

lww_register lww_register::write(std::string v, hlc_stamp at, replica_id by) {
  return {std::move(v), at, std::move(by), true};
}

void lww_register::merge(const lww_register& o) {
  if (!o.set)
    return;
  if (!set ||
      std::tie(stamp, writer, value) < std::tie(o.stamp, o.writer, o.value))
    *this = o;
}

// -- pn_counter -------------------------------------------------------------

int64_t pn_counter::value() const {
  int64_t v = 0;
  for (auto& [r, pn] : parts)
    v += static_cast<int64_t>(pn.first) - static_cast<int64_t>(pn.second);
  return v;
}

pn_counter pn_counter::add(const replica_id& r, int64_t by) {
  auto& pn = parts[r];
  if (by >= 0)
    pn.first += static_cast<uint64_t>(by);
  else
    pn.second += static_cast<uint64_t>(-(by + 1)) + 1;
  pn_counter delta;
  delta.parts[r] = pn;
  return delta;
}

void pn_counter::merge(const pn_counter& o) {
  for (auto& [r, pn] : o.parts) {
    auto& mine = parts[r];
    mine.first = std::max(mine.first, pn.first);
    mine.second = std::max(mine.second, pn.second);
  }
}

// -- dot stores -------------------------------------------------------------

namespace {

/// Join of two dot sets under their contexts: keep what both have, and what
/// one has that the other has not seen (seen but absent means removed).
template <class Map>
Map join_dots(const Map& a, const causal_context& ca, const Map& b,
              const causal_context& cb) {
  Map out;
  for (auto& [d, v] : a)
    if (b.count(d) != 0 || !cb.contains(d))
      out.emplace(d, v);
  for (auto& [d, v] : b)
    if (out.count(d) == 0 && !ca.contains(d))
      out.emplace(d, v);
  return out;
}

std::set<dot> join_dots(const std::set<dot>& a, const causal_context& ca,
                        const std::set<dot>& b, const causal_context& cb) {
  std::set<dot> out;
  for (auto& d : a)
    if (b.count(d) != 0 || !cb.contains(d))
      out.insert(d);
  for (auto& d : b)
    if (!ca.contains(d))
      out.insert(d);
  return out;
}

} // namespace

// -- mv_register ------------------------------------------------------------

std::vector<std::string> mv_register::read() const {
  std::set<std::string> vs;
  for (auto& [d, v] : values)
    vs.insert(v);
  return {vs.begin(), vs.end()};
}

mv_register mv_register::write(const replica_id& r, std::string v) {
  mv_register delta;
  for (auto& [d, old] : values)
    delta.context.add(d);
  auto d = context.next(r);
  delta.context.add(d);
  delta.values.emplace(d, v);
  values.clear();
  values.emplace(d, std::move(v));
  return delta;
}

void mv_register::merge(const mv_register& o) {
  values = join_dots(values, context, o.values, o.context);
  context.merge(o.context);
}

// -- or_set -----------------------------------------------------------------

bool or_set::contains(const std::string& e) const {
  return entries.count(e) != 0;
}

std::vector<std::string> or_set::elements() const {
  std::vector<std::string> out;
  for (auto& [e, dots] : entries)
    out.push_back(e);
  return out;
}

or_set or_set::add(const replica_id& r, const std::string& e) {
  // The new dot joins the element's dots; it does not retire the ones seen
  // before, so a remove takes out exactly the adds its replica observed,
  // whatever order deltas arrive in.
  or_set delta;
  auto d = context.next(r);
  delta.context.add(d);
  delta.entries[e] = {d};
  entries[e].insert(d);
  return delta;
}

or_set or_set::remove(const std::string& e) {
  or_set delta;
  auto i = entries.find(e);
  if (i == entries.end())
    return delta;
  for (auto& d : i->second)
    delta.context.add(d);
  entries.erase(i);
  return delta;
}

void or_set::merge(const or_set& o) {
  std::set<std::string> keys;
  for (auto& [e, ds] : entries)
    keys.insert(e);
  for (auto& [e, ds] : o.entries)
    keys.insert(e);
  static const std::set<dot> none;
  std::map<std::string, std::set<dot>> out;
  for (auto& e : keys) {
    auto a = entries.find(e);
    auto b = o.entries.find(e);
    auto joined = join_dots(a == entries.end() ? none : a->second, context,
                            b == o.entries.end() ? none : b->second, o.context);
    if (!joined.empty())
      out.emplace(e, std::move(joined));
  }
  entries = std::move(out);
  context.merge(o.context);
}

// -- crdt_value -------------------------------------------------------------

const char* to_string(crdt_value::type t) {
  switch (t) {
  case crdt_value::type::lww:
    return "lww";
  case crdt_value::type::mv:
    return "mv";
  case crdt_value::type::counter:
    return "counter";
  case crdt_value::type::set:
    return "set";
  }
  return "unknown";
}

void crdt_value::merge(const crdt_value& o) {
  if (o.kind != kind) {
    if (o.kind < kind)
      return;
    *this = o;
    return;
  }
  lww.merge(o.lww);
  mv.merge(o.mv);
  counter.merge(o.counter);
  set.merge(o.set);
}

// -- or_map -----------------------------------------------------------------

bool or_map::contains(const std::string& key) const {
  auto i = entries.find(key);
  return i != entries.end() && !i->second.presence.empty();
}

const crdt_value* or_map::get(const std::string& key) const {
  auto i = entries.find(key);
  return i != entries.end() && !i->second.presence.empty() ? &i->second.value
                                                           : nullptr;
}

std::vector<std::string> or_map::keys() const {
  std::vector<std::string> out;
  for (auto& [k, e] : entries)
    if (!e.presence.empty())
      out.push_back(k);
  return out;
}

or_map or_map::update(const replica_id& r, const std::string& key,
                      const crdt_value& value_delta) {
  or_map delta;
  auto d = context.next(r);
  delta.context.add(d);
  auto& de = delta.entries[key];
  de.presence = {d};
  de.value = value_delta;
  merge(key, de);
  return delta;
}

or_map or_map::remove(const std::string& key) {
  or_map delta;
  auto i = entries.find(key);
  if (i == entries.end() || i->second.presence.empty())
    return delta;
  auto& de = delta.entries[key];
  de.removed = i->second.presence;
  merge(key, de);
  return delta;
}

void or_map::merge(const std::string& key, const entry& e) {
  auto& mine = entries[key];
  // Presence is a two-phase set of dots: once removed, a dot never returns.
  mine.removed.insert(e.removed.begin(), e.removed.end());
  mine.presence.insert(e.presence.begin(), e.presence.end());
  for (auto& d : mine.removed)
    mine.presence.erase(d);
  mine.value.merge(e.value);
  // Every dot ever used, removed ones too: a replica restored from its
  // entries must never hand out one of its old dots again.
  for (auto& d : e.presence)
    context.add(d);
  for (auto& d : e.removed)
    context.add(d);
}

void or_map::merge(const or_map& o) {
  for (auto& [k, e] : o.entries)
    merge(k, e);
  context.merge(o.context);
}

} // namespace mycelium::gdb
