#pragma once

/// Wire format of membership messages (FlatBuffers, verified on decode).

#include "mycelium/core/result.hpp"
#include "mycelium/membership/swim_core.hpp"

#include <string>
#include <string_view>

namespace mycelium::membership {

std::string encode(const message& msg);

/// Verifies and decodes; refuses unknown kinds and states.
result<message> decode(std::string_view payload);

} // namespace mycelium::membership
