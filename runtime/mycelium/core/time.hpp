#pragma once

/// Time vocabulary of the pure cores. Cores never read a clock: the actor shell
/// passes `now` in. `time_point` is the monotonic clock CAF's actor clock uses,
/// so `self->clock().now()` (and the deterministic test clock) feed it
/// directly.

#include <chrono>
#include <cstdint>

namespace mycelium {

using duration = std::chrono::steady_clock::duration;
using time_point = std::chrono::steady_clock::time_point;

/// Milliseconds since the Unix epoch, as the shell read it from the wall
/// clock. Used only for display and for records that outlive the process.
using wall_ms = int64_t;

/// Converts a duration to whole milliseconds.
inline int64_t to_ms(duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// Builds a duration from milliseconds.
constexpr duration from_ms(int64_t ms) {
  return std::chrono::milliseconds(ms);
}

} // namespace mycelium
