#include "membership_bench.hpp"

#include "common.hpp"
#include "mycelium/config/json.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace mycelium::bench {

namespace {

using clock_type = std::chrono::steady_clock;

struct node {
  std::string name;
  std::string config;
  pid_t pid = -1;
};

std::string folder_of(const std::string& path) {
  return path.substr(0, path.rfind('/'));
}

void start(node& n, const std::string& daemon) {
  n.pid = ::fork();
  if (n.pid == 0) {
    ::execl(daemon.c_str(), daemon.c_str(), "--config", n.config.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
}

void stop(node& n, int sig = SIGTERM) {
  if (n.pid <= 0)
    return;
  ::kill(n.pid, SIGCONT);
  ::kill(n.pid, sig);
  int status = 0;
  ::waitpid(n.pid, &status, 0);
  n.pid = -1;
}

/// Member states as `observer` reports them (name -> state).
std::map<std::string, std::string> states(const std::string& console,
                                          const node& observer) {
  std::map<std::string, std::string> out;
  auto cmd = console + " --timeout 2 --json --config " + observer.config +
             " members 2>/dev/null";
  auto* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr)
    return out;
  std::string text;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof(buf), pipe))
    text.append(buf, n);
  ::pclose(pipe);
  try {
    auto doc = json::parse(text);
    for (auto& m : doc["result"]["members"])
      out[m["name"]] = m["state"];
  } catch (const json::exception&) {
  }
  return out;
}

/// Waits until every node but `subject` sees it in `state`; seconds taken
/// or -1 after the deadline.
double wait_all(const std::string& console, const std::vector<node>& nodes,
                const node& subject, const std::string& state,
                clock_type::time_point t0, int deadline_s) {
  auto end = t0 + std::chrono::seconds(deadline_s);
  while (clock_type::now() < end) {
    bool all = true;
    for (auto& n : nodes) {
      if (&n == &subject)
        continue;
      if (states(console, n)[subject.name] != state) {
        all = false;
        break;
      }
    }
    if (all)
      return std::chrono::duration<double>(clock_type::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

} // namespace

int run_membership(bool as_json, int trials, const char* self_exe) {
  char exe[4096];
  auto len = ::readlink(self_exe, exe, sizeof(exe) - 1);
  if (len <= 0)
    return 1;
  exe[len] = '\0';
  auto tools = folder_of(exe);
  auto daemon = tools + "/myceliumd";
  auto console = tools + "/mycelium";
  char dir_template[] = "/tmp/mycelium-bench-members-XXXXXX";
  std::string dir = ::mkdtemp(dir_template);
  std::ofstream{dir + "/net.key"}
      << "6d7963656c69756d2d62656e63682d6b65792d30303030303030303030303032\n";
  std::ofstream{dir + "/admin.key"}
      << "6d7963656c69756d2d62656e63682d61646d696e2d3030303030303030303033\n";
  std::vector<node> nodes(5);
  std::vector<std::string> seeds;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < nodes.size(); ++i) {
    ports.push_back(free_port());
    seeds.push_back("127.0.0.1:" + std::to_string(ports.back()));
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto& n = nodes[i];
    n.name = "m" + std::to_string(i + 1);
    n.config = dir + "/" + n.name + ".json";
    // The default (lan) profile, as the issue asks.
    json cfg{{"name", n.name},
             {"listen", seeds[i]},
             {"data_dir", n.name},
             {"seeds", seeds},
             {"network_id", "bench"},
             {"isolation_keys", {"net.key"}},
             {"admin_key", "admin.key"},
             {"log", {{"level", "warning"}, {"file", n.name + ".log"}}}};
    std::ofstream{n.config} << cfg.dump(2);
    start(n, daemon);
  }
  auto everyone_alive = [&] {
    for (auto& subject : nodes)
      if (wait_all(console, nodes, subject, "alive", clock_type::now(), 30) < 0)
        return false;
    return true;
  };
  int code = 0;
  std::vector<double> hang;
  std::vector<double> kill;
  if (!everyone_alive()) {
    std::cerr << "mycelium-bench: the 5 nodes did not form one network\n";
    code = 1;
  }
  for (int t = 0; t < trials && code == 0; ++t) {
    auto& victim = nodes[1 + static_cast<size_t>(t) % (nodes.size() - 1)];
    // Hang: SIGSTOP keeps the TCP connections open; only probing tells.
    ::kill(victim.pid, SIGSTOP);
    auto t0 = clock_type::now();
    auto took = wait_all(console, nodes, victim, "failed", t0, 60);
    ::kill(victim.pid, SIGCONT);
    if (took < 0) {
      code = 1;
      break;
    }
    hang.push_back(took);
    if (!as_json)
      std::cerr << "membership: hang trial " << t + 1 << "/" << trials << ": "
                << took << " s\n";
    if (wait_all(console, nodes, victim, "alive", clock_type::now(), 60) < 0) {
      code = 1;
      break;
    }
    // Kill: the process is gone, its connections close.
    ::kill(victim.pid, SIGKILL);
    ::waitpid(victim.pid, nullptr, 0);
    t0 = clock_type::now();
    took = wait_all(console, nodes, victim, "failed", t0, 60);
    if (took < 0) {
      code = 1;
      break;
    }
    kill.push_back(took);
    if (!as_json)
      std::cerr << "membership: kill trial " << t + 1 << "/" << trials << ": "
                << took << " s\n";
    start(victim, daemon);
    if (wait_all(console, nodes, victim, "alive", clock_type::now(), 60) < 0) {
      code = 1;
      break;
    }
  }
  for (auto& n : nodes)
    stop(n);
  if (code != 0) {
    std::cerr << "mycelium-bench: a detection did not happen within 60 s "
                 "(logs in "
              << dir << ")\n";
    return code;
  }
  std::system(("rm -rf '" + dir + "'").c_str());
  json out{{"scenario", "membership"},
           {"nodes", nodes.size()},
           {"profile", "lan"},
           {"trials", hang.size()},
           {"hang_detection_p50_s", percentile(hang, 0.5)},
           {"hang_detection_max_s", percentile(hang, 1.0)},
           {"kill_detection_p50_s", percentile(kill, 0.5)},
           {"kill_detection_max_s", percentile(kill, 1.0)},
           {"anchors", "measured elsewhere: Akka about 5.5 s, memberlist LAN "
                       "defaults 5 s or more"},
           {"note", "detection = time until every other node reports the "
                    "member failed through the console (20 ms polling)"}};
  if (as_json) {
    std::cout << out.dump() << "\n";
  } else {
    std::printf("membership: 5 nodes, lan profile, %zu trials\n", hang.size());
    std::printf("  hang (SIGSTOP) detected by all: p50 %.2f s, max %.2f s\n",
                percentile(hang, 0.5), percentile(hang, 1.0));
    std::printf("  kill -9 detected by all:       p50 %.2f s, max %.2f s\n",
                percentile(kill, 0.5), percentile(kill, 1.0));
  }
  return 0;
}

} // namespace mycelium::bench
