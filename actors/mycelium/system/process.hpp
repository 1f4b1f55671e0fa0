#pragma once

/// Runs an external program with `input` on its standard input and waits
/// for it at most `timeout_ms` (then kills it). Returns "" on exit code 0,
/// else what went wrong (not found, exit code, signal, timeout).

#include <cstdint>
#include <string>
#include <vector>

namespace mycelium::system {

std::string run_with_input(const std::vector<std::string>& argv,
                           const std::string& input, int64_t timeout_ms);

} // namespace mycelium::system
