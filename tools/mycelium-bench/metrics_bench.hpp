#pragma once

namespace mycelium::bench {

/// `mycelium-bench metrics`: /metrics scrape time (p50, p99) with `series`
/// series through the daemon's HTTP endpoint, and the cost of one counter
/// increment next to a plain atomic increment.
int run_metrics(bool as_json, int series, int scrapes);

} // namespace mycelium::bench
