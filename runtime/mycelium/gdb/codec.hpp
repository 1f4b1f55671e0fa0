#pragma once

/// FlatBuffers form of Global Database entries (stored and shipped) and of
/// its anti-entropy messages. Decoding verifies the buffer and the values
/// and names what is wrong.

#include "mycelium/core/result.hpp"
#include "mycelium/gdb/crdt.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mycelium::gdb {

struct merkle_node {
  std::vector<uint8_t> path;
  std::vector<uint64_t> hashes;
};

struct sync_message {
  enum class type : uint8_t { nodes = 0, entries = 1, entries_final = 2 };
  type kind = type::nodes;
  std::vector<merkle_node> nodes;
  std::vector<std::pair<std::string, or_map::entry>> entries;
};

std::string encode_entry(const std::string& key, const or_map::entry& e);
result<std::pair<std::string, or_map::entry>>
decode_entry(std::string_view bytes);

std::string encode(const sync_message& msg);
result<sync_message> decode(std::string_view bytes);

} // namespace mycelium::gdb
