#pragma once

/// Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks"): a
/// timestamp that follows the wall clock when clocks agree and still orders
/// causally related events when they do not. The core never reads a clock:
/// the shell passes the physical time in.

#include "mycelium/core/time.hpp"

#include <cstdint>
#include <string>
#include <tuple>

namespace mycelium {

struct hlc_stamp {
  /// Milliseconds since the Unix epoch (the largest physical time seen).
  int64_t wall = 0;
  /// Orders events within one millisecond.
  uint32_t logical = 0;

  bool operator<(const hlc_stamp& o) const {
    return std::tie(wall, logical) < std::tie(o.wall, o.logical);
  }
  bool operator==(const hlc_stamp& o) const {
    return wall == o.wall && logical == o.logical;
  }
  bool operator!=(const hlc_stamp& o) const { return !(*this == o); }
  std::string to_string() const;
};

class hlc {
public:
  /// Remote stamps further than `max_drift_ms` ahead of our physical clock
  /// are not adopted (a broken clock elsewhere must not drag ours along).
  explicit hlc(int64_t max_drift_ms = 60000) : max_drift_ms_(max_drift_ms) {}

  /// A stamp for a local event at physical time `physical`.
  hlc_stamp now(wall_ms physical);

  /// Folds in a stamp received from another node; false (and nothing
  /// changes) when it is beyond the allowed drift.
  bool observe(const hlc_stamp& remote, wall_ms physical);

  const hlc_stamp& last() const { return last_; }

private:
  hlc_stamp last_;
  int64_t max_drift_ms_;
};

/// Last-writer-wins order with a tolerance: stamps in the same window of
/// `tolerance_ms` are concurrent, and the winner between them is decided by
/// `tie` (a content digest), not by whose clock ran ahead. A plain "differ
/// by less than the tolerance" rule is not transitive and so could not make
/// merging associative; fixed windows are. Returns <0, 0 or >0.
int lww_compare(const hlc_stamp& a, uint64_t tie_a, const hlc_stamp& b,
                uint64_t tie_b, int64_t tolerance_ms);

} // namespace mycelium
