#include "temp_dir.hpp"

#include <fstream>

namespace mycelium::test {

std::string temp_dir::write(const std::string& name,
                            const std::string& text) const {
  auto file = *this / name;
  std::ofstream out{file, std::ios::trunc};
  out << text;
  return file;
}

} // namespace mycelium::test
