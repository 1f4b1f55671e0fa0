/// myceliumd: one Mycelium node.
///
/// Exit codes: 0 clean stop (SIGINT/SIGTERM) or success, 1 runtime failure
/// (database unusable, data dir in use, supervision gave up), 2 usage or
/// config error, 4 (`--status`) no node is running on that data dir.

#include "mycelium/actors/health_monitor.hpp"
#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/node.hpp"
#include "mycelium/actors/system_config.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/config/node_config.hpp"
#include "mycelium/store/database.hpp"
#include "mycelium/system/log.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace mycelium;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
constexpr int exit_not_running = 4;

const char* usage_text =
    R"(usage: myceliumd --config FILE            run a node
       myceliumd --check-config FILE      validate a config and exit
       myceliumd --status --config FILE [--json]
                                          show the status of the node that
                                          runs from FILE's data dir
       myceliumd --help | --version

Runs one Mycelium node from a JSON config (see config/node.example.json).
SIGINT or SIGTERM stops the node cleanly: children stop in reverse start
order, state is flushed, the database is closed, and the exit code is 0.
With "allow_fault_injection": true, SIGUSR1 crashes the health monitor to
exercise supervision (the remote console's kill command supersedes this).

Exit codes: 0 success, 1 runtime failure (database unusable, data dir in use,
supervision gave up), 2 usage or config error, 4 node not running (--status).
)";

int usage_error(const std::string& msg) {
  std::cerr << "myceliumd: " << msg << "\n"
            << "Try 'myceliumd --help'.\n";
  return exit_usage;
}

/// Creates `dir` and its missing parents with mode 0700.
bool make_dirs(const std::string& dir, std::string& why) {
  std::string partial;
  std::stringstream in{dir};
  std::string part;
  while (std::getline(in, part, '/')) {
    if (part.empty())
      continue;
    partial += "/" + part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      why = partial + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  std::ostringstream out;
  out.precision(u == 0 ? 0 : 1);
  out << std::fixed << bytes << " " << units[u];
  return out.str();
}

std::string format_age(int64_t ms) {
  if (ms < 0)
    ms = 0;
  auto s = ms / 1000;
  if (s < 120)
    return std::to_string(s) + "s";
  if (s < 7200)
    return std::to_string(s / 60) + "m";
  if (s < 172800)
    return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

int show_status(const config::node_config& cfg, bool as_json) {
  auto path = actors::status_file_path(cfg.data_dir);
  std::ifstream in{path};
  json doc;
  bool running = false;
  if (in) {
    try {
      in >> doc;
      auto pid = doc.at("pid").get<int64_t>();
      running = pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0;
    } catch (const json::exception& e) {
      std::cerr << "myceliumd: " << path << ": unreadable status (" << e.what()
                << ")\n";
      return exit_failure;
    }
  }
  if (as_json) {
    if (doc.is_null())
      doc = json::object();
    doc["running"] = running;
    std::cout << doc.dump(2) << "\n";
    return running ? exit_ok : exit_not_running;
  }
  if (!running) {
    std::cerr << "myceliumd: node " << cfg.name << " is not running (no live "
              << "process behind " << path << ")\n";
    return exit_not_running;
  }
  auto now = log::wall_now_ms();
  std::cout << "node " << doc.value("node", "?") << " (pid "
            << doc.value("pid", 0) << ")  listen " << doc.value("listen", "?")
            << "  network " << doc.value("network_id", "?") << "  up "
            << format_age(now - doc.value("started_ms", int64_t{0})) << "\n";
  auto& health = doc["health"];
  std::cout << "health: " << health.value("level", "?") << "\n";
  for (auto& r : health["reasons"])
    std::cout << "  - " << r.get<std::string>() << "\n";
  std::printf("%-24s %-11s %8s  %s\n", "COMPONENT", "STATE", "RESTARTS",
              "LAST FAILURE");
  for (auto& c : doc["components"]) {
    std::string last = c.value("last_reason", "");
    auto at = c.value("last_failure_ms", int64_t{0});
    if (at > 0)
      last += " (" + format_age(now - at) + " ago)";
    std::printf("%-24s %-11s %8lld  %s\n", c.value("path", "").c_str(),
                c.value("state", "").c_str(),
                static_cast<long long>(c.value("restarts", int64_t{0})),
                last.c_str());
  }
  if (doc.contains("resources")) {
    auto& r = doc["resources"];
    std::cout << "resources: rss " << format_bytes(r.value("rss_bytes", 0.0))
              << ", cpu " << r.value("cpu_seconds", 0.0) << " s, fds "
              << r.value("open_fds", 0) << ", data dir "
              << format_bytes(r.value("data_dir_bytes", 0.0)) << ", disk free "
              << format_bytes(r.value("disk_free_bytes", 0.0)) << " ("
              << doc.value("samples_recorded", 0) << " samples kept)\n";
  }
  return exit_ok;
}

std::string make_boot_id() {
  std::random_device rd;
  std::ostringstream out;
  out << std::hex << log::wall_now_ms() << "-" << ::getpid() << "-" << rd();
  return out.str();
}

int run_node(const config::node_config& cfg) {
  std::string why;
  if (!make_dirs(cfg.data_dir, why)) {
    std::cerr << "myceliumd: cannot create data dir: " << why << "\n";
    return exit_failure;
  }
  if (!cfg.log.file.empty() &&
      !make_dirs(cfg.log.file.substr(0, cfg.log.file.rfind('/')), why)) {
    std::cerr << "myceliumd: cannot create log folder: " << why << "\n";
    return exit_failure;
  }
  if (!log::configure(cfg.name, log::parse_level(cfg.log.level),
                      cfg.log.file)) {
    std::cerr << "myceliumd: cannot open log file " << cfg.log.file << "\n";
    return exit_failure;
  }
  // Every connection, the database and the console take a file descriptor;
  // the common soft limit of 1024 is low for a node with many peers, so it
  // is raised to the hard limit (as most network daemons do).
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 &&
                      files.rlim_cur < files.rlim_max) {
    auto soft = files.rlim_cur;
    files.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &files) == 0)
      log::debug("main", "open files limit raised from " +
                             std::to_string(soft) + " to " +
                             std::to_string(files.rlim_cur));
  }
  // One node per data dir: an advisory lock held for the process's life.
  auto lock_path = cfg.data_dir + "/LOCK";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    log::error("main", "data dir " + cfg.data_dir +
                           " is in use by another myceliumd (" + lock_path +
                           " is locked)");
    return exit_failure;
  }
  store::open_options opts;
  opts.busy_timeout_ms = static_cast<int>(cfg.store.busy_timeout_ms);
  auto db = store::database::open(cfg.data_dir + "/mycelium.db", opts);
  if (!db) {
    log::error("main", "cannot use the database: " + db.err().message());
    return exit_failure;
  }
  auto identity = crypto::node_identity::load_or_create(cfg.data_dir);
  if (!identity) {
    log::error("main",
               "cannot load the node identity: " + identity.err().message());
    return exit_failure;
  }
  auto ctx = std::make_shared<actors::node_context>();
  ctx->cfg = cfg;
  ctx->db = *db;
  ctx->identity =
      std::make_shared<const crypto::node_identity>(std::move(*identity));
  ctx->boot = make_boot_id();
  ctx->started_ms = log::wall_now_ms();
  ctx->wall_clock = [] { return log::wall_now_ms(); };

  // Signals are taken synchronously by this thread only; block them before
  // CAF starts its threads so that they inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::atomic<bool> root_down{false};
  std::string root_reason;
  int code = exit_ok;
  {
    caf::actor_system_config sys_cfg;
    actors::apply_runtime_defaults(sys_cfg);
    caf::actor_system sys{sys_cfg};
    std::random_device rd;
    auto root = actors::spawn_node(sys, ctx, (uint64_t{rd()} << 32) | rd());
    root->attach_functor([&](const caf::error& reason) {
      root_reason = reason ? actors::describe(reason) : "";
      root_down = true;
    });
    log::info("main", "node " + cfg.name + " (" + ctx->identity->node_id() +
                          ") started (network " + cfg.network_id +
                          ", data dir " + cfg.data_dir + ", boot " + ctx->boot +
                          ")");
    timespec tick{0, 100 * 1000 * 1000};
    bool stopping = false;
    auto deadline = std::chrono::steady_clock::time_point::max();
    while (!root_down) {
      siginfo_t info;
      int sig = sigtimedwait(&signals, &info, &tick);
      if (sig == SIGUSR1) {
        if (cfg.allow_fault_injection)
          caf::anon_send(root, actors::crash_atom::value,
                         std::string{"health"});
        else
          log::warning("main", "SIGUSR1 ignored: fault injection is disabled");
      } else if ((sig == SIGINT || sig == SIGTERM) && !stopping) {
        log::info("main",
                  std::string{"received "} + strsignal(sig) + ", stopping");
        stopping = true;
        caf::anon_send(root, actors::shutdown_atom::value);
        auto grace =
            cfg.supervision.shutdown_timeout_ms *
                static_cast<int64_t>(actors::node_children(ctx).size() + 1) +
            2000;
        deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(grace);
      } else if (stopping && std::chrono::steady_clock::now() > deadline) {
        log::error("main", "shutdown took too long; killing the actors");
        caf::anon_send_exit(root, caf::exit_reason::kill);
        deadline = std::chrono::steady_clock::time_point::max();
      }
    }
    if (!stopping || !root_reason.empty()) {
      log::error("main", "node supervisor stopped: " +
                             (root_reason.empty() ? "normal" : root_reason));
      code = exit_failure;
    }
  }
  ctx.reset();
  db->reset(); // closes the database after every actor is gone
  log::info("main", "node " + cfg.name + " stopped");
  ::close(lock_fd);
  return code;
}

} // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string check_path;
  bool status = false;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc)
        return {};
      (void)name;
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      return exit_ok;
    } else if (arg == "--version") {
      std::cout << "myceliumd " << MYCELIUM_VERSION << "\n";
      return exit_ok;
    } else if (arg == "--config") {
      config_path = value("--config");
      if (config_path.empty())
        return usage_error("--config needs a file");
    } else if (arg == "--check-config") {
      check_path = value("--check-config");
      if (check_path.empty())
        return usage_error("--check-config needs a file");
    } else if (arg == "--status") {
      status = true;
    } else if (arg == "--json") {
      as_json = true;
    } else {
      return usage_error("unknown argument '" + arg + "'");
    }
  }
  if (!check_path.empty()) {
    auto cfg = config::load(check_path);
    if (!cfg) {
      std::cerr << "myceliumd: " << cfg.err().message() << "\n";
      return exit_usage;
    }
    std::cout << check_path << ": ok (node " << cfg->name << ", listen "
              << cfg->listen.to_string() << ", profile " << cfg->profile
              << ")\n";
    return exit_ok;
  }
  if (config_path.empty())
    return usage_error("missing --config FILE");
  auto cfg = config::load(config_path);
  if (!cfg) {
    std::cerr << "myceliumd: " << cfg.err().message() << "\n";
    return exit_usage;
  }
  if (status)
    return show_status(*cfg, as_json);
  return run_node(*cfg);
}
