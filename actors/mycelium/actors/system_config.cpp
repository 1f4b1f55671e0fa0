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
  // An idle node must not spin. After each message, a work-stealing worker
  // polls for more work, sleeping 50 us between polls for 500 rounds
  // (25 ms), before it blocks. A node wakes every few ms (ticks, probes),
  // so its workers never blocked: an idle node used ~20% of a core
  // (tools/run on a 2-core VM). With 30 rounds they block after ~1.5 ms:
  // ~5% idle. Fewer rounds cost wake-ups on busy paths: with 10, idle was
  // ~3% but mycelium-bench restart p50 rose from ~20 to ~40 us (ratio to
  // its baseline up to 2.2); with 30 it stays ~1.2.
  cfg.set("work-stealing.moderate-poll-attempts", size_t{30});
  // The transport is a CAF io broker.
  cfg.load<caf::io::middleman>();
}

} // namespace mycelium::actors
