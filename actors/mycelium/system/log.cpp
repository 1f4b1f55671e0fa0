#include "mycelium/system/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace mycelium::log {

namespace {

struct sink {
  std::mutex mtx;
  std::string node = "-";
  level min = level::info;
  FILE* out = nullptr;
};

sink& global() {
  static sink instance;
  return instance;
}

const char* name(level lvl) {
  switch (lvl) {
  case level::trace:
    return "trace";
  case level::debug:
    return "debug";
  case level::info:
    return "info";
  case level::warning:
    return "warn";
  case level::error:
    return "error";
  }
  return "?";
}

} // namespace

bool configure(const std::string& node, level min, const std::string& file) {
  auto& s = global();
  std::lock_guard<std::mutex> guard{s.mtx};
  s.node = node;
  s.min = min;
  if (!file.empty()) {
    auto* f = std::fopen(file.c_str(), "a");
    if (f == nullptr)
      return false;
    if (s.out != nullptr && s.out != stderr)
      std::fclose(s.out);
    s.out = f;
  }
  return true;
}

level parse_level(const std::string& text) {
  for (auto lvl :
       {level::trace, level::debug, level::info, level::warning, level::error})
    if (text == name(lvl) || (lvl == level::warning && text == "warning"))
      return lvl;
  return level::info;
}

long long wall_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

void write(level lvl, const std::string& component, const std::string& msg) {
  auto& s = global();
  if (lvl < s.min)
    return;
  auto ms = wall_now_ms();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  std::lock_guard<std::mutex> guard{s.mtx};
  auto* out = s.out != nullptr ? s.out : stderr;
  std::fprintf(out, "%s.%03dZ %-5s %s %s: %s\n", stamp,
               static_cast<int>(ms % 1000), name(lvl), s.node.c_str(),
               component.c_str(), msg.c_str());
  std::fflush(out);
}

} // namespace mycelium::log
