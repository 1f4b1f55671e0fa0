#pragma once

/// The CAF settings every Mycelium process uses, in one place, so the daemon
/// and the benchmarks measure the same thing.

#include <caf/fwd.hpp>

namespace mycelium::actors {

/// Applies our scheduler settings: two worker threads (the target machines
/// have two cores; more workers only add context switches); also tunes the
/// allocator (`tune_allocator`).
void apply_runtime_defaults(caf::actor_system_config& cfg);

/// Keeps large buffers (frames of MiBs) in the heap instead of a fresh mmap
/// per allocation, which page-faults on every copy into it.
void tune_allocator();

} // namespace mycelium::actors
