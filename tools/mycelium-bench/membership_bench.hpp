#pragma once

namespace mycelium::bench {

/// `mycelium-bench membership`: failure detection between real myceliumd
/// processes on loopback (SIGSTOP hangs and kill -9), default profile.
int run_membership(bool as_json, int trials, const char* self_exe);

/// `mycelium-bench membership-load`: failures declared among 5 real nodes
/// while other processes keep every core busy for `seconds`; 0 is the target.
int run_membership_load(bool as_json, int seconds, const char* self_exe);

} // namespace mycelium::bench
