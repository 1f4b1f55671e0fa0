#include "mycelium/system/process.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace mycelium::system {

std::string run_with_input(const std::vector<std::string>& argv,
                           const std::string& input, int64_t timeout_ms) {
  if (argv.empty())
    return "no program given";
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return std::string{"pipe: "} + std::strerror(errno);
  // posix_spawn, not fork: this process runs many threads.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE); // the node ignores it; the child must not
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return "cannot run " + argv[0] + ": " + std::strerror(rc);
  }
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // Write the input within the deadline; a program that does not read it
  // (closed pipe) is not an error.
  ::signal(SIGPIPE, SIG_IGN);
  ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
  size_t off = 0;
  while (off < input.size() && std::chrono::steady_clock::now() < deadline) {
    auto n = ::write(fds[1], input.data() + off, input.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fds[1], POLLOUT, 0};
      ::poll(&p, 1, 10);
    } else {
      break;
    }
  }
  ::close(fds[1]);
  int status = 0;
  for (;;) {
    auto r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid)
      break;
    if (r < 0)
      return std::string{"waitpid: "} + std::strerror(errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return argv[0] + " timed out after " + std::to_string(timeout_ms) +
             " ms (killed)";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return {};
  if (WIFEXITED(status))
    return argv[0] + " exited with code " + std::to_string(WEXITSTATUS(status));
  return argv[0] + " killed by signal " + std::to_string(WTERMSIG(status));
}

} // namespace mycelium::system
