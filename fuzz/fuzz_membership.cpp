// libFuzzer target: the membership decoder refuses anything that is not a
// valid message and round-trips what it accepts.

#include "mycelium/membership/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mycelium::membership;
  auto msg = decode({reinterpret_cast<const char*>(data), size});
  if (msg) {
    auto again = decode(encode(*msg));
    if (!again || again->updates.size() != msg->updates.size() ||
        again->seq != msg->seq)
      __builtin_trap();
  }
  return 0;
}
