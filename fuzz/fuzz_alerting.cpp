// libFuzzer target: the alerting decoders (stored alert state, silence
// matchers, durations, conditions) refuse what is not valid, change
// nothing when they refuse, and round-trip what they accept.

#include "mycelium/alerting/alert_core.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mycelium::alerting;
  std::string text{reinterpret_cast<const char*>(data), size};
  alert_core core{alerting_config{}};
  auto empty = core.save();
  if (core.load(text)) {
    // What was accepted saves and loads to the same state.
    auto saved = core.save();
    alert_core again{alerting_config{}};
    if (!again.load(saved) || again.save() != saved)
      __builtin_trap();
  } else if (core.save() != empty) {
    __builtin_trap(); // a refused load changed the state
  }
  if (auto m = parse_matchers(text)) {
    auto back = parse_matchers(to_string(*m));
    if (!back || to_string(*back) != to_string(*m))
      __builtin_trap();
  }
  if (auto d = parse_duration_ms(text); d && *d <= 0)
    __builtin_trap();
  (void)parse_comparison(text);
  return 0;
}
