#pragma once

/// The Global Database's pure core: one replica's map of typed CRDT
/// values, with the checks every write passes before anything changes
/// (key and value limits, type of an existing key, read-only mode). Each
/// accepted write returns the delta to persist and to ship to peers;
/// deltas and anti-entropy entries from peers merge with `apply`.

#include "mycelium/core/hlc.hpp"
#include "mycelium/core/result.hpp"
#include "mycelium/gdb/crdt.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace mycelium::gdb {

struct limits {
  size_t max_key_bytes = 256;
  size_t max_value_bytes = 65536;
};

/// Error codes of the "gdb" category.
enum class gdb_errc : int {
  bad_key = 1,
  type_mismatch = 2,
  too_large = 3,
  read_only = 4,
  bad_value = 5,
  not_found = 6,
};

/// A value as reads show it: its type and its content rendered as text
/// (several values for a multi-value register or a set).
struct value_view {
  crdt_value::type kind = crdt_value::type::lww;
  std::vector<std::string> values;
  int64_t counter = 0;
};

/// The type named in a command ("lww", "mv", "counter", "set").
result<crdt_value::type> parse_type(const std::string& name);

class database_core {
public:
  database_core(replica_id self, limits lim)
      : self_(std::move(self)), lim_(lim) {}

  /// Writes `value` to `key` as `kind`: lww and mv store it, counter adds
  /// it (a signed integer), set adds it as an element. Returns the delta.
  result<or_map> put(const std::string& key, const std::string& value,
                     crdt_value::type kind, wall_ms wall);
  /// Removes `key` (observed-remove); not_found when it is not present.
  result<or_map> del(const std::string& key);

  std::optional<value_view> get(const std::string& key) const;
  std::vector<std::string> list(const std::string& prefix) const;

  /// Merges a delta or entries from a peer.
  void apply(const or_map& delta) { map_.merge(delta); }
  void apply(const std::string& key, const or_map::entry& e) {
    map_.merge(key, e);
  }

  /// The operator's switch (console `db read-only`).
  void set_read_only(bool on) { read_only_ = on; }
  bool read_only() const { return read_only_; }
  /// The isolation controller's refusal: writes are refused with `why`
  /// while it is not empty (independent of the operator's switch).
  void set_isolated(std::string why) { isolated_ = std::move(why); }
  const std::string& isolated() const { return isolated_; }
  const or_map& map() const { return map_; }
  or_map& map() { return map_; }

private:
  status check_key(const std::string& key) const;
  status check_writable() const;

  replica_id self_;
  limits lim_;
  or_map map_;
  hlc clock_;
  bool read_only_ = false;
  std::string isolated_;
};

} // namespace mycelium::gdb
