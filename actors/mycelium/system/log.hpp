#pragma once

/// Process-wide logger of a node. Every line names the node, the level and the
/// component, so logs of several nodes can be merged and still read:
///
///   2026-11-29T07:30:00.123Z info  node1 supervisor: restarted health ...
///
/// Thread-safe. Lives outside runtime/ because it reads the wall clock.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

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

/// Keeps a flood of like lines (one per refused connection, say) from
/// drowning the log: per key, at most `burst` lines per `window`; the rest
/// are counted and reported once the window ends (`expired`).
class limiter {
public:
  using time_point = std::chrono::steady_clock::time_point;

  limiter(uint64_t burst, std::chrono::milliseconds window)
      : burst_(burst), window_(window) {
    // nop
  }

  /// Whether a line under `key` may be written now.
  bool allow(const std::string& key, time_point now) {
    auto& w = windows_[key];
    if (w.lines == 0 && w.held == 0)
      w.start = now;
    if (w.lines < burst_) {
      ++w.lines;
      return true;
    }
    ++w.held;
    return false;
  }

  /// Keys whose window has ended, with the lines held back in it (those
  /// with none are dropped silently). Their windows start again.
  std::vector<std::pair<std::string, uint64_t>> expired(time_point now) {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (auto i = windows_.begin(); i != windows_.end();) {
      if (now - i->second.start < window_) {
        ++i;
        continue;
      }
      if (i->second.held > 0)
        out.emplace_back(i->first, i->second.held);
      i = windows_.erase(i);
    }
    return out;
  }

private:
  struct window {
    time_point start{};
    uint64_t lines = 0;
    uint64_t held = 0;
  };
  uint64_t burst_;
  std::chrono::milliseconds window_;
  std::map<std::string, window> windows_;
};

} // namespace mycelium::log
