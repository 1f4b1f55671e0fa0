#include "mycelium/actors/system_config.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include <malloc.h>

namespace mycelium::actors {

void tune_allocator() {
  // Frames of up to a few MiB pass through several buffers per hop. With
  // glibc's defaults each such buffer is a fresh mmap (or the heap top is
  // trimmed and regrown), and every copy into it page-faults: measured with
  // `mycelium-bench transport`, 1 MiB plain throughput rose from ~410 to
  // ~600 MB/s with large buffers kept in the heap.
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

void apply_runtime_defaults(caf::actor_system_config& cfg) {
  tune_allocator();
  // Work stealing (CAF's default) kept: measured against the sharing policy
  // with `mycelium-bench restart`, it gave the same or lower latency here.
  cfg.set("scheduler.max-threads", 2);
  // The transport is a CAF io broker.
  cfg.load<caf::io::middleman>();
}

} // namespace mycelium::actors
