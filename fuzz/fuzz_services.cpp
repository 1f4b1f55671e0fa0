// libFuzzer target: the service record decoder and the service operations
// refuse what is not valid and round-trip what they accept; merges of any
// two accepted records never crash and always give a JSON object.

#include "mycelium/services/service_core.hpp"

#include "mycelium/json/json.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mycelium::services;
  std::string text{reinterpret_cast<const char*>(data), size};
  if (auto r = decode(text)) {
    auto again = decode(encode(*r));
    if (!again || encode(*again) != encode(*r))
      __builtin_trap();
    for (auto* merge : {&merge_counter_sum, &merge_kv_union}) {
      auto m = (*merge)(*r, *r, common_ancestor("kv", *r, *r));
      if (m && !nlohmann::json::parse(*m, nullptr, false).is_object())
        __builtin_trap();
    }
  }
  // The text as a state, and its words as an operation.
  std::vector<std::string> words;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == ' ') {
      words.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  for (auto kind : {"counter", "kv"}) {
    if (auto r = apply(kind, text, words))
      if (!nlohmann::json::parse(r->state, nullptr, false).is_object())
        __builtin_trap();
    (void)apply(kind, initial_state(kind), words);
  }
  return 0;
}
