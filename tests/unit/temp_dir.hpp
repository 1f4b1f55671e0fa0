#pragma once

/// A fresh folder under $TMPDIR for one test, removed afterwards.

#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace mycelium::test {

class temp_dir {
public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string{base ? base : "/tmp"} + "/mycelium-XXXXXX";
    path_ = ::mkdtemp(templ.data()) ? templ : std::string{};
  }

  ~temp_dir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) {
      // best effort
    }
  }

  const std::string& path() const { return path_; }

  std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }

  /// Writes `text` into `name` and returns its path.
  std::string write(const std::string& name, const std::string& text) const;

private:
  std::string path_;
};

} // namespace mycelium::test
