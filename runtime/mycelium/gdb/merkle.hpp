#pragma once

/// Merkle anti-entropy for the Global Database: the key space (by a 64-bit
/// hash of the key) is a tree of `fanout_bits`-bit levels; a node's hash is
/// the XOR of the digests of the entries below it. Two replicas compare
/// child hashes level by level, descend only where they differ, and at the
/// leaves exchange the entries there, so the cost grows with how much
/// diverged (about d * log n hashes for d diverged keys), not with the size
/// of the database.
///
/// One exchange: A sends its root's children; each side answers a `nodes`
/// message with the children of every node that differs (one message per
/// round), and the leaves that differ with its entries there (`entries`);
/// the receiver merges them and answers with its own entries of those
/// leaves that differ (`entries_final`).

#include "mycelium/gdb/codec.hpp"

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace mycelium::gdb {

/// Digest of one entry's content (canonical, stable across machines).
uint64_t digest(const std::string& key, const or_map::entry& e);

/// 64-bit position of a key in the tree.
uint64_t key_position(const std::string& key);

class merkle_tree {
public:
  merkle_tree(const or_map& map, int fanout_bits = 4, int depth = 4);

  int fanout() const { return 1 << bits_; }
  int depth() const { return depth_; }
  /// The hashes of the children of the node at `path`.
  std::vector<uint64_t> children(const std::vector<uint8_t>& path) const;
  /// The keys in the leaf at `path` (a path of `depth` steps).
  std::vector<std::string> keys(const std::vector<uint8_t>& path) const;

private:
  uint64_t prefix(const std::vector<uint8_t>& path) const;
  int bits_;
  int depth_;
  /// Per level (1..depth): prefix -> hash.
  std::vector<std::unordered_map<uint64_t, uint64_t>> levels_;
  std::unordered_map<uint64_t, std::vector<std::string>> leaves_;
};

/// Handles one anti-entropy message against `map` (which it merges into)
/// and returns the answers to send back (none when done).
std::vector<sync_message> on_sync(or_map& map, const sync_message& msg,
                                  int fanout_bits = 4, int depth = 4);

/// The first message of an exchange.
sync_message start_sync(const or_map& map, int fanout_bits = 4, int depth = 4);

} // namespace mycelium::gdb
