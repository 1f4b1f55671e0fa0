// libFuzzer target: the config loader must refuse any malformed document
// with an error, never crash or throw.

#include "mycelium/config/node_config.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{reinterpret_cast<const char*>(data), size};
  auto cfg = mycelium::config::parse(text, "/nonexistent/fuzz/node.json");
  if (!cfg && cfg.err().message().empty())
    __builtin_trap();
  return 0;
}
