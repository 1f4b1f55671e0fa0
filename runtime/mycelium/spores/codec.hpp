#pragma once

/// FlatBuffers form of spore sync messages and of stored spores. Decoding
/// verifies the buffer and the values (ranges ordered, ids present) and
/// names what is wrong; nothing is trusted that did not verify.

#include "mycelium/core/result.hpp"
#include "mycelium/spores/tracker_core.hpp"

#include <string>
#include <string_view>

namespace mycelium::spores {

std::string encode(const sync_message& msg);
result<sync_message> decode(std::string_view payload);

std::string encode_spore(const latent_spore& s);
result<latent_spore> decode_spore(std::string_view bytes);

std::string encode_master(const master_spore& m);
result<master_spore> decode_master(std::string_view bytes);

} // namespace mycelium::spores
