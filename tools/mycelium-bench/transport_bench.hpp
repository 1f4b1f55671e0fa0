#pragma once

/// `mycelium-bench transport`: the TLS transport between real processes on
/// loopback, next to the same framing over plain TCP, in one run.

namespace mycelium::bench {

/// Runs the scenario; prints one line (or JSON object) per payload size.
/// `pings` round trips are measured; transfer sizes scale with it.
int run_transport(bool as_json, const char* self_exe, int pings);

/// The peer process: a transport plus an echo/count actor (internal mode,
/// started by `run_transport`).
int run_transport_peer(int argc, char** argv);

} // namespace mycelium::bench
