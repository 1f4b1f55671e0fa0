#pragma once

/// Small FlatBuffers helpers every codec uses (header only: codecs link
/// FlatBuffers themselves).

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace mycelium::wire {

/// An optional FlatBuffers string as std::string ("" when absent).
inline std::string fb_str(const flatbuffers::String* s) {
  return s == nullptr ? std::string{} : s->str();
}

/// The root table of `bytes` when the buffer verifies, else nullptr.
template <class T>
const T* verified_root(std::string_view bytes) {
  flatbuffers::Verifier v{reinterpret_cast<const uint8_t*>(bytes.data()),
                          bytes.size()};
  if (!v.VerifyBuffer<T>(nullptr))
    return nullptr;
  return flatbuffers::GetRoot<T>(bytes.data());
}

/// The finished buffer of `b` as bytes.
inline std::string fb_bytes(const flatbuffers::FlatBufferBuilder& b) {
  return {reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()};
}

} // namespace mycelium::wire
