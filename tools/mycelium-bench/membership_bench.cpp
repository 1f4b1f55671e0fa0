#include "membership_bench.hpp"

#include "common.hpp"
#include "mycelium/json/json.hpp"

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

/// Output of `console ARGS` against `observer` as JSON (null on failure).
json query(const std::string& console, const node& observer,
           const std::string& args) {
  auto cmd = console + " --timeout 2 --json --config " + observer.config + " " +
             args + " 2>/dev/null";
  auto* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr)
    return nullptr;
  std::string text;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof(buf), pipe))
    text.append(buf, n);
  ::pclose(pipe);
  return json::parse(text, nullptr, false);
}

/// Member states as `observer` reports them (name -> state).
std::map<std::string, std::string> states(const std::string& console,
                                          const node& observer) {
  std::map<std::string, std::string> out;
  auto doc = query(console, observer, "members");
  if (!doc.is_object() || !doc["result"]["members"].is_array())
    return out;
  for (auto& m : doc["result"]["members"])
    out[m.value("name", "")] = m.value("state", "");
  return out;
}

/// Five myceliumd processes of the default (lan) profile in a temporary
/// folder, all seeds of each other; stopped when this goes away.
struct cluster {
  std::string daemon;
  std::string console;
  std::string dir;
  std::vector<node> nodes;
  bool keep_dir = false;

  explicit cluster(const char* self_exe, size_t n = 5) {
    char exe[4096];
    auto len = ::readlink(self_exe, exe, sizeof(exe) - 1);
    exe[len > 0 ? len : 0] = '\0';
    auto tools = folder_of(exe);
    daemon = tools + "/myceliumd";
    console = tools + "/mycelium";
    char dir_template[] = "/tmp/mycelium-bench-members-XXXXXX";
    dir = ::mkdtemp(dir_template);
    std::ofstream{dir + "/net.key"}
        << "6d7963656c69756d2d62656e63682d6b65792d30303030303030303030303032\n";
    std::ofstream{dir + "/admin.key"}
        << "6d7963656c69756d2d62656e63682d61646d696e2d3030303030303030303033\n";
    nodes.resize(n);
    std::vector<std::string> seeds;
    for (size_t i = 0; i < n; ++i)
      seeds.push_back("127.0.0.1:" + std::to_string(free_port()));
    for (size_t i = 0; i < n; ++i) {
      auto& nd = nodes[i];
      nd.name = "m" + std::to_string(i + 1);
      nd.config = dir + "/" + nd.name + ".json";
      // The default (lan) profile, as the issue asks.
      json cfg{{"name", nd.name},
               {"listen", seeds[i]},
               {"data_dir", nd.name},
               {"seeds", seeds},
               {"network_id", "bench"},
               {"isolation_keys", {"net.key"}},
               {"admin_key", "admin.key"},
               {"log", {{"level", "warning"}, {"file", nd.name + ".log"}}}};
      std::ofstream{nd.config} << cfg.dump(2);
      start(nd, daemon);
    }
  }

  ~cluster() {
    for (auto& n : nodes)
      stop(n);
    if (!keep_dir)
      std::system(("rm -rf '" + dir + "'").c_str());
  }

  /// Seconds until every node but `subject` sees it in `state`, or -1 after
  /// the deadline.
  double wait_all(const node& subject, const std::string& state,
                  clock_type::time_point t0, int deadline_s) const {
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

  bool everyone_alive() const {
    for (auto& subject : nodes)
      if (wait_all(subject, "alive", clock_type::now(), 30) < 0)
        return false;
    return true;
  }
};

} // namespace

int run_membership(bool as_json, int trials, const char* self_exe) {
  cluster c{self_exe};
  auto& nodes = c.nodes;
  int code = 0;
  std::vector<double> hang;
  std::vector<double> kill;
  if (!c.everyone_alive()) {
    std::cerr << "mycelium-bench: the 5 nodes did not form one network\n";
    code = 1;
  }
  for (int t = 0; t < trials && code == 0; ++t) {
    auto& victim = nodes[1 + static_cast<size_t>(t) % (nodes.size() - 1)];
    // Hang: SIGSTOP keeps the TCP connections open; only probing tells.
    ::kill(victim.pid, SIGSTOP);
    auto t0 = clock_type::now();
    auto took = c.wait_all(victim, "failed", t0, 60);
    ::kill(victim.pid, SIGCONT);
    if (took < 0) {
      code = 1;
      break;
    }
    hang.push_back(took);
    if (!as_json)
      std::cerr << "membership: hang trial " << t + 1 << "/" << trials << ": "
                << took << " s\n";
    if (c.wait_all(victim, "alive", clock_type::now(), 60) < 0) {
      code = 1;
      break;
    }
    // Kill: the process is gone, its connections close.
    ::kill(victim.pid, SIGKILL);
    ::waitpid(victim.pid, nullptr, 0);
    t0 = clock_type::now();
    took = c.wait_all(victim, "failed", t0, 60);
    if (took < 0) {
      code = 1;
      break;
    }
    kill.push_back(took);
    if (!as_json)
      std::cerr << "membership: kill trial " << t + 1 << "/" << trials << ": "
                << took << " s\n";
    start(victim, c.daemon);
    if (c.wait_all(victim, "alive", clock_type::now(), 60) < 0) {
      code = 1;
      break;
    }
  }
  if (code != 0) {
    c.keep_dir = true;
    std::cerr << "mycelium-bench: a detection did not happen within 60 s "
                 "(logs in "
              << c.dir << ")\n";
    return code;
  }
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

int run_membership_load(bool as_json, int seconds, const char* self_exe) {
  cluster c{self_exe};
  if (!c.everyone_alive()) {
    c.keep_dir = true;
    std::cerr << "mycelium-bench: the 5 nodes did not form one network (logs "
                 "in "
              << c.dir << ")\n";
    return 1;
  }
  // Other processes saturate every core: two busy loops per core.
  auto cores = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<pid_t> burners;
  for (long i = 0; i < 2 * cores; ++i) {
    auto pid = ::fork();
    if (pid == 0) {
      volatile uint64_t x = 0;
      for (;;)
        x = x + 1;
    }
    burners.push_back(pid);
  }
  auto t0 = clock_type::now();
  auto end = t0 + std::chrono::seconds(seconds);
  uint64_t not_alive_seen = 0;
  int last_report = 0;
  while (clock_type::now() < end) {
    // Spot checks besides the counters read at the end.
    for (auto& n : c.nodes)
      for (auto& [name, st] : states(c.console, n))
        not_alive_seen += st != "alive";
    auto elapsed = static_cast<int>(
        std::chrono::duration<double>(clock_type::now() - t0).count());
    if (!as_json && elapsed / 30 != last_report) {
      last_report = elapsed / 30;
      std::cerr << "membership-load: " << elapsed << "/" << seconds
                << " s, members seen not alive so far: " << not_alive_seen
                << "\n";
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  for (auto pid : burners) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  uint64_t failed = 0;
  uint64_t suspected = 0;
  for (auto& n : c.nodes) {
    auto doc = query(c.console, n, "inspect membership");
    auto counts =
        doc.is_object() ? doc["result"]["events_since_start"] : json(nullptr);
    if (!counts.is_object()) {
      std::cerr << "mycelium-bench: no membership counters from " << n.name
                << "\n";
      return 1;
    }
    failed += counts.value("failed", uint64_t{0});
    suspected += counts.value("suspect", uint64_t{0});
  }
  json out{{"scenario", "membership_load"},
           {"nodes", c.nodes.size()},
           {"profile", "lan"},
           {"seconds", seconds},
           {"busy_processes", burners.size()},
           {"cores", cores},
           {"false_failures", failed},
           {"suspicions", suspected},
           {"not_alive_spot_checks", not_alive_seen},
           {"target", "false_failures 0"}};
  if (as_json) {
    std::cout << out.dump() << "\n";
  } else {
    std::printf("membership-load: 5 nodes, lan profile, %d s with %zu busy "
                "processes on %ld cores\n",
                seconds, burners.size(), cores);
    std::printf("  failures declared: %llu (suspicions %llu)\n",
                static_cast<unsigned long long>(failed),
                static_cast<unsigned long long>(suspected));
  }
  return failed == 0 ? 0 : 1;
}

} // namespace mycelium::bench
