#pragma once

/// Reads the process's resource usage from /proc and the data dir's disk
/// usage from the file system. Linux only.

#include "mycelium/health/monitor_core.hpp"

#include <string>

namespace mycelium::health {

/// Samples this process and `data_dir`; `time` is stamped into the sample.
resource_sample sample_resources(const std::string& data_dir, wall_ms time);

} // namespace mycelium::health
