#pragma once

namespace mycelium::bench {

/// `mycelium-bench membership`: failure detection between real myceliumd
/// processes on loopback (SIGSTOP hangs and kill -9), default profile.
int run_membership(bool as_json, int trials, const char* self_exe);

} // namespace mycelium::bench
