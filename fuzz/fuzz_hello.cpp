// libFuzzer target: Hello and Reject payload decoders must refuse any bytes
// that are not a valid FlatBuffer of their table, never crash, and a decoded
// Hello must survive a round trip through its encoder.

#include "mycelium/wire/hello.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  if (auto h = mycelium::wire::decode_hello(bytes)) {
    auto again = mycelium::wire::decode_hello(mycelium::wire::encode_hello(*h));
    if (!again || again->node_id != h->node_id ||
        again->signature != h->signature ||
        mycelium::wire::hello_signed_bytes(*again, "b") !=
            mycelium::wire::hello_signed_bytes(*h, "b"))
      __builtin_trap();
  }
  if (auto r = mycelium::wire::decode_reject(bytes))
    (void)mycelium::wire::encode_reject(*r);
  return 0;
}
