#include "mycelium/health/resources.hpp"

#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace mycelium::health {

namespace {

int64_t count_fds() {
  int64_t n = 0;
  if (auto* dir = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(dir);
    --n; // the descriptor of the listing itself
  }
  return n;
}

/// Sums the sizes of regular files under `path`, bounded in depth.
int64_t disk_usage(const std::string& path, int depth = 0) {
  int64_t total = 0;
  auto* dir = ::opendir(path.c_str());
  if (dir == nullptr)
    return 0;
  while (auto* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    auto full = path + "/" + name;
    struct stat st;
    if (::lstat(full.c_str(), &st) != 0)
      continue;
    if (S_ISREG(st.st_mode))
      total += st.st_size;
    else if (S_ISDIR(st.st_mode) && depth < 16)
      total += disk_usage(full, depth + 1);
  }
  ::closedir(dir);
  return total;
}

} // namespace

resource_sample sample_resources(const std::string& data_dir, wall_ms time) {
  resource_sample s;
  s.time = time;
  auto page = ::sysconf(_SC_PAGESIZE);
  {
    std::ifstream statm{"/proc/self/statm"};
    int64_t size = 0;
    int64_t resident = 0;
    if (statm >> size >> resident)
      s.rss_bytes = resident * page;
  }
  {
    // Fields 14 and 15 of /proc/self/stat are utime and stime in ticks; the
    // command name (field 2) may hold spaces, so skip past its ')'.
    std::ifstream stat{"/proc/self/stat"};
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest{line.substr(close + 2)};
      std::string field;
      int64_t utime = 0;
      int64_t stime = 0;
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14)
          utime = std::stoll(field);
        if (i == 15)
          stime = std::stoll(field);
      }
      auto ticks = ::sysconf(_SC_CLK_TCK);
      s.cpu_seconds =
          static_cast<double>(utime + stime) / static_cast<double>(ticks);
    }
  }
  s.open_fds = count_fds();
  s.data_dir_bytes = disk_usage(data_dir);
  struct statvfs vfs;
  if (::statvfs(data_dir.c_str(), &vfs) == 0) {
    s.disk_free_bytes = static_cast<int64_t>(vfs.f_bavail) * vfs.f_frsize;
    s.disk_total_bytes = static_cast<int64_t>(vfs.f_blocks) * vfs.f_frsize;
  }
  return s;
}

} // namespace mycelium::health
