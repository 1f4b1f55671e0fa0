#pragma once

/// What the node has to keep writes safe, as its components last reported
/// it: the free fraction of the data dir's file system (the health
/// monitor's samples) and the components whose store writes fail
/// (`store_failures`). One typed view shared by the node's actors through
/// `node_context`; the isolation controller reads it before an override and
/// on every evaluation, instead of searching the metrics by name.

#include "mycelium/isolation/isolation_core.hpp"

#include <mutex>
#include <set>
#include <string>

namespace mycelium::actors {

class resource_board {
public:
  void set_disk_free_ratio(double ratio) {
    std::lock_guard<std::mutex> guard{mu_};
    disk_free_ratio_ = ratio;
  }

  void set_store_failing(const std::string& component, bool failing) {
    std::lock_guard<std::mutex> guard{mu_};
    if (failing)
      failing_.insert(component);
    else
      failing_.erase(component);
  }

  /// The current view (free disk 1 until the first sample).
  isolation::resources snapshot() const {
    std::lock_guard<std::mutex> guard{mu_};
    return {disk_free_ratio_, {failing_.begin(), failing_.end()}};
  }

private:
  mutable std::mutex mu_;
  double disk_free_ratio_ = 1;
  std::set<std::string> failing_;
};

} // namespace mycelium::actors
