#include "mycelium/gdb/database_core.hpp"

#include <cerrno>
#include <cstdlib>

namespace mycelium::gdb {

namespace {

error fail(gdb_errc code, std::string what) {
  return error{"gdb", static_cast<uint8_t>(code), std::move(what)};
}

} // namespace

result<crdt_value::type> parse_type(const std::string& name) {
  for (auto t : {crdt_value::type::lww, crdt_value::type::mv,
                 crdt_value::type::counter, crdt_value::type::set})
    if (name == to_string(t))
      return t;
  return fail(gdb_errc::bad_value, "unknown value type '" + name +
                                       "' (expected lww, mv, counter or set)");
}

status database_core::check_writable() const {
  if (read_only_)
    return fail(gdb_errc::read_only, "the database is read-only");
  if (!isolated_.empty())
    return fail(gdb_errc::read_only, isolated_);
  return ok();
}

status database_core::check_key(const std::string& key) const {
  if (key.empty())
    return fail(gdb_errc::bad_key, "empty key");
  if (key.size() > lim_.max_key_bytes)
    return fail(gdb_errc::bad_key,
                "key of " + std::to_string(key.size()) + " bytes (at most " +
                    std::to_string(lim_.max_key_bytes) + ")");
  for (auto c : key)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return fail(gdb_errc::bad_key, "key with a control character");
  return ok();
}

result<or_map> database_core::put(const std::string& key,
                                  const std::string& value,
                                  crdt_value::type kind, wall_ms wall) {
  if (auto refused = check_writable(); !refused)
    return refused.err();
  if (auto st = check_key(key); !st)
    return st.err();
  if (value.size() > lim_.max_value_bytes)
    return fail(gdb_errc::too_large,
                "value of " + std::to_string(value.size()) +
                    " bytes (at most " + std::to_string(lim_.max_value_bytes) +
                    ")");
  crdt_value current;
  current.kind = kind;
  if (auto i = map_.entries.find(key); i != map_.entries.end()) {
    // Also a deleted key keeps its type: its value state still merges.
    if (i->second.value.kind != kind)
      return fail(gdb_errc::type_mismatch, "key '" + key + "' holds a " +
                                               to_string(i->second.value.kind) +
                                               ", not a " + to_string(kind));
    current = i->second.value;
  }
  crdt_value delta;
  delta.kind = kind;
  switch (kind) {
  case crdt_value::type::lww:
    // A write replaces what this replica has seen, also a value stamped by
    // a clock ahead of ours (within the HLC's drift limit).
    if (current.lww.set)
      clock_.observe(current.lww.stamp, wall);
    delta.lww = lww_register::write(value, clock_.now(wall), self_);
    break;
  case crdt_value::type::mv:
    delta.mv = current.mv.write(self_, value);
    break;
  case crdt_value::type::counter: {
    errno = 0;
    char* end = nullptr;
    auto n = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno == ERANGE)
      return fail(gdb_errc::bad_value,
                  "counter increment '" + value + "' is not an integer");
    delta.counter = current.counter.add(self_, n);
    break;
  }
  case crdt_value::type::set:
    delta.set = current.set.add(self_, value);
    break;
  }
  return map_.update(self_, key, delta);
}

result<or_map> database_core::del(const std::string& key) {
  if (auto refused = check_writable(); !refused)
    return refused.err();
  if (auto st = check_key(key); !st)
    return st.err();
  if (!map_.contains(key))
    return fail(gdb_errc::not_found, "no key '" + key + "'");
  return map_.remove(key);
}

std::optional<value_view> database_core::get(const std::string& key) const {
  auto* v = map_.get(key);
  if (v == nullptr)
    return std::nullopt;
  value_view out;
  out.kind = v->kind;
  switch (v->kind) {
  case crdt_value::type::lww:
    out.values = {v->lww.value};
    break;
  case crdt_value::type::mv:
    out.values = v->mv.read();
    break;
  case crdt_value::type::counter:
    out.counter = v->counter.value();
    out.values = {std::to_string(out.counter)};
    break;
  case crdt_value::type::set:
    out.values = v->set.elements();
    break;
  }
  return out;
}

std::vector<std::string> database_core::list(const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto i = map_.entries.lower_bound(prefix);
       i != map_.entries.end() &&
       i->first.compare(0, prefix.size(), prefix) == 0;
       ++i)
    if (!i->second.presence.empty())
      out.push_back(i->first);
  return out;
}

} // namespace mycelium::gdb
