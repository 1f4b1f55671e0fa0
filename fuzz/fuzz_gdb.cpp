// libFuzzer target: the Global Database decoders (sync messages and stored
// entries) refuse anything that is not valid and round-trip what they
// accept.

#include "mycelium/gdb/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mycelium::gdb;
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  if (auto msg = decode(bytes)) {
    auto again = decode(encode(*msg));
    if (!again || again->entries.size() != msg->entries.size() ||
        again->nodes.size() != msg->nodes.size())
      __builtin_trap();
    for (size_t i = 0; i < msg->entries.size(); ++i)
      if (!(again->entries[i].second == msg->entries[i].second))
        __builtin_trap();
  }
  if (auto e = decode_entry(bytes)) {
    auto again = decode_entry(encode_entry(e->first, e->second));
    if (!again || !(again->second == e->second))
      __builtin_trap();
  }
  return 0;
}
