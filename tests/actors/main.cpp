#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "mycelium/system/log.hpp"

int main(int argc, char** argv) {
  // Supervisors log every injected crash; keep the test output readable.
  mycelium::log::configure("test", mycelium::log::level::error, "");
  return doctest::Context{argc, argv}.run();
}
