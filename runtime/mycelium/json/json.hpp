#pragma once

/// The one place that includes nlohmann/json (STYLE.md rule 16): modules
/// that read or write JSON include this header.

#include <nlohmann/json.hpp>

namespace mycelium {

using json = nlohmann::json;

} // namespace mycelium
