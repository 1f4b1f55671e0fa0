// libFuzzer target: the spore decoders (sync messages and stored spores)
// refuse anything that is not valid and round-trip what they accept.

#include "mycelium/spores/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mycelium::spores;
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  if (auto msg = decode(bytes)) {
    auto again = decode(encode(*msg));
    if (!again || again->spores.size() != msg->spores.size() ||
        again->hashes != msg->hashes || again->differing != msg->differing)
      __builtin_trap();
    for (size_t i = 0; i < msg->spores.size(); ++i)
      if (again->spores[i] != msg->spores[i])
        __builtin_trap();
  }
  if (auto s = decode_spore(bytes)) {
    auto again = decode_spore(encode_spore(*s));
    if (!again || *again != *s)
      __builtin_trap();
  }
  if (auto m = decode_master(bytes)) {
    auto again = decode_master(encode_master(*m));
    if (!again || !(*again == *m))
      __builtin_trap();
  }
  return 0;
}
