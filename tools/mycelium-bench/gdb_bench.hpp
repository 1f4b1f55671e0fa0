#pragma once

namespace mycelium::bench {

/// `mycelium-bench gdb`: CRDT merge throughput next to a plain map insert,
/// and Merkle reconciliation of 100,000 keys with 1% diverged next to
/// shipping the full state both ways.
int run_gdb(bool as_json, int keys);

} // namespace mycelium::bench
