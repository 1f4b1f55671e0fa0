// libFuzzer target: the frame decoder must never crash, hang or accept a
// frame the FlatBuffers verifier rejects, whatever bytes arrive.

#include "mycelium/wire/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mycelium::wire::frame_decoder dec{64 * 1024};
  // Feed in two parts split by the first byte, to exercise reassembly.
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  size_t split = size > 0 ? data[0] % (size + 1) : 0;
  if (dec.feed(bytes.substr(0, split)))
    (void)dec.feed(bytes.substr(split));
  for (auto& env : dec.frames()) {
    // Re-encoding a decoded frame must decode to the same envelope.
    mycelium::wire::frame_decoder again{64 * 1024 + 64};
    auto st = again.feed(mycelium::wire::encode_frame(env));
    if (!st || again.frames().size() != 1 ||
        again.frames()[0].payload != env.payload)
      __builtin_trap();
  }
  return 0;
}
