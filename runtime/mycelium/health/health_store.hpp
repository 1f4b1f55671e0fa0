#pragma once

/// Persistence of the health monitor: component statuses, supervision event
/// history, resource samples and the cursor into the root supervisor's event
/// log. Every update is one transaction, so a monitor killed at any point
/// resumes from a consistent state and neither loses nor double-counts an
/// event.

#include "mycelium/core/result.hpp"
#include "mycelium/health/monitor_core.hpp"
#include "mycelium/store/database.hpp"

#include <memory>
#include <string>
#include <vector>

namespace mycelium::health {

/// Position in the root supervisor's event log: the log restarts with every
/// boot of the node, so the boot id is part of the cursor.
struct event_cursor {
  std::string boot;
  uint64_t seq = 0;
};

class health_store {
public:
  /// Creates or migrates the health tables in `db`.
  static result<health_store> open(std::shared_ptr<store::database> db);

  /// Loads components and samples into `core`; returns the event cursor.
  result<event_cursor> load(monitor_core& core);

  /// Records `ev` (of boot `boot`) and the component it changed, keeping at
  /// most `max_events` events.
  status apply(const std::string& boot, const supervision_event& ev,
               const component_status& changed, int64_t max_events);

  /// Records a sample, keeping at most `max_samples`.
  status add_sample(const resource_sample& s, int64_t max_samples);

  /// The newest `limit` events, oldest first.
  result<std::vector<supervision_event>> recent_events(int64_t limit);

private:
  explicit health_store(std::shared_ptr<store::database> db)
      : db_(std::move(db)) {}

  std::shared_ptr<store::database> db_;
};

} // namespace mycelium::health
