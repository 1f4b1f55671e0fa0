#pragma once

/// 64-bit FNV-1a over a canonical byte stream: integers little-endian,
/// strings length-prefixed. Stable across runs and machines, so digests
/// built with it can be compared between nodes (spores, Merkle trees,
/// bucket assignment).

#include <cstdint>
#include <string>
#include <string_view>

namespace mycelium {

class fnv1a {
public:
  void add(uint64_t v) {
    for (int i = 0; i < 8; ++i)
      byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void add(int64_t v) { add(static_cast<uint64_t>(v)); }
  void add(uint32_t v) { add(static_cast<uint64_t>(v)); }
  void add(const std::string& s) {
    add(static_cast<uint64_t>(s.size()));
    add_raw(s);
  }
  /// The bytes alone, without a length prefix.
  void add_raw(std::string_view s) {
    for (auto c : s)
      byte(static_cast<uint8_t>(c));
  }
  uint64_t value() const { return h_; }

private:
  void byte(uint8_t b) {
    h_ ^= b;
    h_ *= 0x100000001b3ULL;
  }
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

} // namespace mycelium
