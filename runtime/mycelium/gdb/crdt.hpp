#pragma once

/// Conflict-free replicated data types for the Global Database, as
/// delta-state CRDTs (Almeida, Shoker, Baquero, "Delta State Replicated Data
/// Types"): every mutation returns a delta, a small state that merges like
/// any other, so replicas ship deltas instead of whole states and any merge
/// order, duplication or batching gives the same result.
///
/// Causal types (multi-value register, observed-remove set) keep a causal
/// context: the dots (replica, counter) of every write they have seen, as a
/// version vector plus a cloud of dots beyond it. A dot in the context but
/// not in the store was removed; that is how removals travel in deltas.
///
/// Every merge is commutative, associative and idempotent (property-tested
/// against reference models in tests/unit/gdb).

#include "mycelium/core/hlc.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mycelium::gdb {

using replica_id = std::string;

struct dot {
  replica_id replica;
  uint64_t counter = 0;
  bool operator<(const dot& o) const {
    return replica != o.replica ? replica < o.replica : counter < o.counter;
  }
  bool operator==(const dot& o) const {
    return replica == o.replica && counter == o.counter;
  }
};

/// What a replica has seen: a compact version vector plus loose dots.
class causal_context {
public:
  bool contains(const dot& d) const;
  /// The next dot of `r` (and records it).
  dot next(const replica_id& r);
  void add(const dot& d);
  void merge(const causal_context& o);
  /// Folds loose dots that continue the vector into it (canonical form).
  void compact();
  /// Raises `r`'s vector entry to at least `counter` (decoding).
  void merge_vector_entry(const replica_id& r, uint64_t counter);
  bool operator==(const causal_context& o) const {
    return vv_ == o.vv_ && cloud_ == o.cloud_;
  }
  const std::map<replica_id, uint64_t>& vector() const { return vv_; }
  const std::set<dot>& cloud() const { return cloud_; }

private:
  std::map<replica_id, uint64_t> vv_;
  std::set<dot> cloud_;
};

/// Last-writer-wins register: the write with the highest hybrid logical
/// clock stamp wins; equal stamps are settled by writer, then value.
struct lww_register {
  std::string value;
  hlc_stamp stamp;
  replica_id writer;
  bool set = false;

  static lww_register write(std::string v, hlc_stamp at, replica_id by);
  void merge(const lww_register& o);
  bool operator==(const lww_register& o) const {
    return set == o.set && stamp == o.stamp && writer == o.writer &&
           value == o.value;
  }
};

/// Positive-negative counter: per replica increments and decrements.
struct pn_counter {
  std::map<replica_id, std::pair<uint64_t, uint64_t>> parts;

  int64_t value() const;
  /// Returns the delta (the replica's new part only).
  pn_counter add(const replica_id& r, int64_t by);
  void merge(const pn_counter& o);
  bool operator==(const pn_counter& o) const { return parts == o.parts; }
};

/// Multi-value register: a write replaces every value it has seen;
/// concurrent writes are all kept until one overwrites them.
struct mv_register {
  std::map<dot, std::string> values;
  causal_context context;

  std::vector<std::string> read() const;
  mv_register write(const replica_id& r, std::string v);
  void merge(const mv_register& o);
  bool operator==(const mv_register& o) const {
    return values == o.values && context == o.context;
  }
};

/// Observed-remove set (add wins over a concurrent remove).
struct or_set {
  std::map<std::string, std::set<dot>> entries;
  causal_context context;

  bool contains(const std::string& e) const;
  std::vector<std::string> elements() const;
  or_set add(const replica_id& r, const std::string& e);
  or_set remove(const std::string& e);
  void merge(const or_set& o);
  bool operator==(const or_set& o) const {
    return entries == o.entries && context == o.context;
  }
};

/// The value of a map entry: one of the CRDTs above, tagged with its type.
/// Writes of another type to an existing key are refused by the database;
/// should two replicas still create a key with different types
/// concurrently, the higher type tag wins deterministically.
struct crdt_value {
  enum class type : uint8_t { lww = 0, mv = 1, counter = 2, set = 3 };
  type kind = type::lww;
  lww_register lww;
  mv_register mv;
  pn_counter counter;
  or_set set;

  void merge(const crdt_value& o);
  bool operator==(const crdt_value& o) const {
    return kind == o.kind && lww == o.lww && mv == o.mv &&
           counter == o.counter && set == o.set;
  }
};

const char* to_string(crdt_value::type t);

/// Observed-remove map: a key is present while it has a presence dot that
/// no remove observed (an update concurrent with a remove wins). Each key
/// records the presence dots removed from it, so every entry is
/// self-contained: any subset of entries (a digest range during
/// anti-entropy) merges correctly on its own, without the whole context.
/// Values merge with their own CRDT, also while the key is absent: a
/// removed key keeps its value state and its removed dots (a tombstone, so
/// merging stays a join); an update after a remove continues from it.
/// Tombstones are never collected yet.
struct or_map {
  struct entry {
    std::set<dot> presence;
    std::set<dot> removed;
    crdt_value value;
    bool operator==(const entry& o) const {
      return presence == o.presence && removed == o.removed && value == o.value;
    }
  };
  std::map<std::string, entry> entries;
  /// Only for making new dots: the highest counter each replica used.
  causal_context context;

  bool contains(const std::string& key) const;
  const crdt_value* get(const std::string& key) const;
  std::vector<std::string> keys() const;
  /// Applies `value_delta` (computed by the caller on a copy of the current
  /// value, or a fresh value) under a new presence dot; returns the delta.
  or_map update(const replica_id& r, const std::string& key,
                const crdt_value& value_delta);
  or_map remove(const std::string& key);
  void merge(const or_map& o);
  /// Merges one entry (as received in a delta or a digest range).
  void merge(const std::string& key, const entry& e);
  bool operator==(const or_map& o) const {
    return entries == o.entries && context == o.context;
  }
};

} // namespace mycelium::gdb
