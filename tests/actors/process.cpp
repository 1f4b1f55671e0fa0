#include "mycelium/system/process.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <sstream>

using mycelium::system::run_with_input;

TEST_CASE("a command channel program gets the input on stdin") {
  mycelium::test::temp_dir dir;
  auto out = dir.path() + "/got";
  CHECK(run_with_input({"sh", "-c", "cat > " + out}, "{\"a\":1}\n", 5000) ==
        "");
  std::ifstream in{out};
  std::stringstream got;
  got << in.rdbuf();
  CHECK(got.str() == "{\"a\":1}\n");
}

TEST_CASE("failures name the cause") {
  CHECK(run_with_input({"sh", "-c", "exit 3"}, "", 5000) ==
        "sh exited with code 3");
  CHECK(run_with_input({"/no/such/program"}, "x", 5000).find("cannot run") ==
        0);
  CHECK(run_with_input({}, "x", 5000) == "no program given");
  auto t0 = std::chrono::steady_clock::now();
  auto slow = run_with_input({"sleep", "10"}, "", 300);
  CHECK(slow.find("timed out after 300 ms") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("a program that does not read a large input neither blocks nor "
          "fails the delivery") {
  std::string big(1 << 20, 'x');
  auto t0 = std::chrono::steady_clock::now();
  CHECK(run_with_input({"true"}, big, 2000) == "");
  // One that never reads and never exits is killed at the deadline.
  auto stuck = run_with_input({"sleep", "10"}, big, 300);
  CHECK(stuck.find("timed out") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}
