#include "mycelium/core/hlc.hpp"

#include <algorithm>

namespace mycelium {

std::string hlc_stamp::to_string() const {
  return std::to_string(wall) + "." + std::to_string(logical);
}

hlc_stamp hlc::now(wall_ms physical) {
  if (physical > last_.wall)
    last_ = {physical, 0};
  else
    ++last_.logical;
  return last_;
}

bool hlc::observe(const hlc_stamp& remote, wall_ms physical) {
  if (remote.wall - physical > max_drift_ms_)
    return false;
  auto wall = std::max({last_.wall, remote.wall, physical});
  uint32_t logical = 0;
  if (wall == last_.wall && wall == remote.wall)
    logical = std::max(last_.logical, remote.logical) + 1;
  else if (wall == last_.wall)
    logical = last_.logical + 1;
  else if (wall == remote.wall)
    logical = remote.logical + 1;
  last_ = {wall, logical};
  return true;
}

int lww_compare(const hlc_stamp& a, uint64_t tie_a, const hlc_stamp& b,
                uint64_t tie_b, int64_t tolerance_ms) {
  auto window = [&](const hlc_stamp& s) {
    if (tolerance_ms <= 0)
      return s.wall;
    // Floor division, also for stamps before the epoch.
    return s.wall >= 0 ? s.wall / tolerance_ms
                       : -((-s.wall + tolerance_ms - 1) / tolerance_ms);
  };
  auto wa = window(a);
  auto wb = window(b);
  if (wa != wb)
    return wa < wb ? -1 : 1;
  if (tolerance_ms > 0 && tie_a != tie_b)
    return tie_a < tie_b ? -1 : 1;
  if (a != b)
    return a < b ? -1 : 1;
  if (tie_a != tie_b)
    return tie_a < tie_b ? -1 : 1;
  return 0;
}

} // namespace mycelium
