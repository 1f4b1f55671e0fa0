#pragma once

/// Process-wide logger of a node. Every line names the node, the level and the
/// component, so logs of several nodes can be merged and still read:
///
///   2026-11-29T07:30:00.123Z info  node1 supervisor: restarted health ...
///
/// Thread-safe. Lives outside runtime/ because it reads the wall clock.

#include <string>

namespace mycelium::log {

enum class level : int { trace = 0, debug, info, warning, error };

/// Sets the node name, the minimum level and the output (`file` empty:
/// standard error). Returns false when the file cannot be opened.
bool configure(const std::string& node, level min, const std::string& file);

/// Parses "info" etc.; defaults to info.
level parse_level(const std::string& text);

/// Writes one line when `lvl` is enabled.
void write(level lvl, const std::string& component, const std::string& msg);

inline void debug(const std::string& c, const std::string& m) {
  write(level::debug, c, m);
}
inline void info(const std::string& c, const std::string& m) {
  write(level::info, c, m);
}
inline void warning(const std::string& c, const std::string& m) {
  write(level::warning, c, m);
}
inline void error(const std::string& c, const std::string& m) {
  write(level::error, c, m);
}

/// Milliseconds since the Unix epoch (the shell's wall clock).
long long wall_now_ms();

} // namespace mycelium::log
