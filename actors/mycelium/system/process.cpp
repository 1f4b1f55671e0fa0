#include "mycelium/system/process.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mycelium::system {

std::string run_with_input(const std::vector<std::string>& argv,
                           const std::string& input, int64_t timeout_ms) {
  if (argv.empty())
    return "no program given";
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return std::string{"pipe: "} + std::strerror(errno);
  // An exec failure is reported through this pipe (closed on success).
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return std::string{"pipe: "} + std::strerror(errno);
  }
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {fds[0], fds[1], err_pipe[0], err_pipe[1]})
      ::close(fd);
    return std::string{"fork: "} + std::strerror(errno);
  }
  if (pid == 0) {
    ::dup2(fds[0], 0);
    ::execvp(args[0], args.data());
    int e = errno;
    (void)!::write(err_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(fds[0]);
  ::close(err_pipe[1]);
  int exec_errno = 0;
  auto got = ::read(err_pipe[0], &exec_errno, sizeof exec_errno);
  ::close(err_pipe[0]);
  // Write the input; a program that does not read it is not an error.
  ::signal(SIGPIPE, SIG_IGN);
  size_t off = 0;
  while (got <= 0 && off < input.size()) {
    auto n = ::write(fds[1], input.data() + off, input.size() - off);
    if (n <= 0)
      break;
    off += static_cast<size_t>(n);
  }
  ::close(fds[1]);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
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
  if (got > 0)
    return "cannot run " + argv[0] + ": " + std::strerror(exec_errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return {};
  if (WIFEXITED(status))
    return argv[0] + " exited with code " + std::to_string(WEXITSTATUS(status));
  return argv[0] + " killed by signal " + std::to_string(WTERMSIG(status));
}

} // namespace mycelium::system
