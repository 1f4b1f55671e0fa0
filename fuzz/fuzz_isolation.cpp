// libFuzzer target: the isolation controller's stored-state decoder refuses
// what is not valid, changes nothing when it refuses, and round-trips what
// it accepts.

#include "mycelium/isolation/isolation_core.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mycelium::isolation;
  std::string text{reinterpret_cast<const char*>(data), size};
  isolation_core core{settings{}};
  auto empty = core.save();
  if (core.load(text)) {
    auto saved = core.save();
    isolation_core again{settings{}};
    if (!again.load(saved) || again.save() != saved)
      __builtin_trap();
    // A loaded state never claims read-only without an isolation time.
    if (core.read_only() && core.current().isolated_since == 0)
      __builtin_trap();
  } else if (core.save() != empty) {
    __builtin_trap(); // a refused load changed the state
  }
  return 0;
}
