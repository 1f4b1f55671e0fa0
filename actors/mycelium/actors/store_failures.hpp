#pragma once

/// A component's failed writes to its store (a full disk, an I/O error).
///
/// Restarting a component whose store refuses writes only fails again: the
/// supervisor soon exceeds its restart intensity and the node stops, while
/// it could still serve reads, membership and alerts (a full disk is exactly
/// when an operator needs those). So components record failed writes here
/// and carry on as their design says (refuse and roll back a write, or keep
/// the state in memory and save it with the next write). The first failure
/// is logged as an error, the recovery once, every failure is counted in
/// `mycelium_store_write_failures_total{component}`, and
/// `mycelium_store_write_failing{component}` is 1 until a write succeeds
/// again (the built-in StoreWriteFailing alert watches it).

#include "mycelium/actors/node_context.hpp"

#include <string>

namespace mycelium::actors {

class store_failures {
public:
  explicit store_failures(std::string component)
      : component_(std::move(component)) {
    // nop
  }

  /// Records one write's outcome: `failure` is empty when it was saved,
  /// else the store's error text. Returns whether it was saved.
  bool record(const node_context& ctx, const std::string& what,
              const std::string& failure);

  /// Whether the last write failed.
  bool failing() const noexcept { return failing_; }

private:
  std::string component_;
  bool failing_ = false;
  /// The component's series, registered at the first write.
  metrics::gauge* failing_gauge_ = nullptr;
  metrics::counter* failures_ = nullptr;
};

} // namespace mycelium::actors
