/// mycelium: the remote console of a Mycelium node.
///
/// Connects through the node's TLS transport with the admin identity and the
/// admin key, sends one request per command and prints the answer as a table
/// (or, with --json, exactly one JSON document). Without a command it runs an
/// interactive session with history.
///
/// Exit codes: 0 success, 1 the node refused or the command failed, 2 usage
/// error, 3 authentication failed, 4 node unreachable.

#include "mycelium/json/json.hpp"
#include "mycelium/config/node_config.hpp"
#include "mycelium/crypto/identity.hpp"
#include "mycelium/crypto/tls_channel.hpp"
#include "mycelium/system/net.hpp"
#include "mycelium/transport/transport_core.hpp"
#include "mycelium/wire/frame.hpp"
#include "mycelium/wire/hello.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <sstream>
#include <unistd.h>

namespace {

using namespace mycelium;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_auth = 3;
constexpr int exit_unreachable = 4;

const char* usage_text =
    R"(usage: mycelium [--config NODE.json | --node HOST:PORT --admin-key FILE]
                [--json] [--timeout SECONDS] [COMMAND [ARGS...]]

Reaches a node through its TLS transport with the admin key and runs one
command; without a command, starts an interactive session (history kept in
~/.mycelium_history; 'history' lists it, 'exit' leaves).

Commands:
  status                 node health, components, connected peers
  actors                 the supervision tree: state, restarts, uptime
  inspect ACTOR          one actor's state as JSON (e.g. health, transport)
  peers                  connections, negotiated version, bytes, rejections
  members                the membership table: id, name, address, state,
                         incarnation, time since last heard
  spores                 every node this node has met: state (online or
                         offline), since when, last activity, addresses
  spore NODE             one node's spore: activity periods, data summary
  db put KEY VALUE [--type TYPE]
                         write (TYPE lww (default), mv, counter: add an
                         integer, set: add an element); acknowledged once
                         persisted on this node
  db get KEY | db del KEY | db list [PREFIX]
  db stats               keys, bytes, state digest (equal on byte-identical
                         replicas), last reconciliation per peer
  db read-only on|off    refuse writes (reads go on) or accept them again
  isolation              isolation mode (connected, isolated: read-only,
                         overridden), reachable and unreachable nodes,
                         resources, when an override becomes possible
  isolation override [--force] [REASON]
                         accept writes while isolated (after
                         isolation.override_after_ms, or at once with
                         --force; refused when disk or store fall short)
  isolation revoke       end an override: read-only again
  service list           hosted services: instances, host, operations,
                         state (two instances of one service: a split)
  service call SERVICE OP [ARGS...]
                         run an operation on the instance hosted here
                         (counter: add N, get; kv: put K V, get K, del K,
                         list); acknowledged once persisted
  health                 health level with reasons (components, resources,
                         connectivity, security events, probe latency)
  metrics                the node's metrics in the Prometheus text format
  alerts                 alerts (pending, firing, resolved) and silences
  ack ID                 acknowledge an alert (stops its escalation)
  silence MATCHERS DURATION [COMMENT]
                         mute alerts matching e.g. peer=n3,alertname!=X for
                         DURATION (90s, 30m, 2h, 1d)
  unsilence ID           expire a silence now
  ping PEER              round trip to a connected peer through the transport
  kill ACTOR             crash an actor to exercise supervision
  fault partition PEER [in|out|both]
  fault drop PEER PROBABILITY [in|out]
  fault delay PEER MILLISECONDS
  fault duplicate PEER PROBABILITY
  fault clear            remove every fault rule
                         (kill and fault need allow_fault_injection)

PEER is a node name, a node id (or its prefix) or '*'.
Exit codes: 0 success, 1 the node refused or the command failed, 2 usage
error, 3 authentication failed, 4 node unreachable.
)";

struct failure {
  int code;
  std::string message;
};

/// One TLS session with a node.
class session {
public:
  session(config::endpoint ep, std::string admin_key, int64_t timeout_ms)
      : ep_(std::move(ep)), key_(std::move(admin_key)), timeout_ms_(timeout_ms),
        decoder_(64 << 20) {}

  ~session() {
    if (fd_ >= 0) {
      if (tls_) {
        tls_->close();
        write_all(tls_->take_output());
      }
      ::close(fd_);
    }
  }

  void open() {
    std::string why;
    fd_ = net::dial(ep_.host, ep_.port, timeout_ms_, why);
    if (fd_ < 0)
      throw failure{exit_unreachable,
                    "cannot reach node at " + ep_.to_string() + ": " + why};
    tls_ = crypto::tls_channel::client(transport::admin_identity, key_);
    auto deadline = net::monotonic_ms() + timeout_ms_;
    while (!tls_->established()) {
      write_all(tls_->take_output());
      if (tls_->closed())
        throw failure{exit_auth, auth_text()};
      auto bytes = read_some(deadline);
      if (bytes.empty()) {
        if (net::monotonic_ms() >= deadline)
          throw failure{exit_unreachable,
                        "node at " + ep_.to_string() +
                            " did not complete the TLS handshake within " +
                            std::to_string(timeout_ms_) + " ms"};
        throw failure{exit_auth, auth_text()};
      }
      if (!tls_->received(bytes.data(), bytes.size())) {
        write_all(tls_->take_output());
        throw failure{exit_auth, auth_text()};
      }
    }
    write_all(tls_->take_output());
  }

  /// Sends one request and waits for its answer.
  json call(const json& request) {
    auto frame =
        wire::encode_frame({static_cast<uint16_t>(wire::kind::console_request),
                            "", request.dump()});
    if (!tls_->send(frame.data(), frame.size()))
      throw failure{exit_unreachable, "connection to the node was lost"};
    write_all(tls_->take_output());
    auto deadline = net::monotonic_ms() + timeout_ms_;
    while (decoder_.frames().empty()) {
      auto bytes = read_some(deadline);
      if (bytes.empty())
        throw failure{exit_unreachable,
                      net::monotonic_ms() >= deadline
                          ? "no answer from the node within " +
                                std::to_string(timeout_ms_) + " ms"
                          : std::string{"the node closed the connection"}};
      if (!tls_->received(bytes.data(), bytes.size()))
        throw failure{exit_unreachable, "the node closed the connection"};
      write_all(tls_->take_output());
      if (auto st = decoder_.feed(tls_->take_plaintext()); !st)
        throw failure{exit_failed, "bad answer: " + st.err().message()};
    }
    auto env = std::move(decoder_.frames().front());
    decoder_.frames().pop_front();
    try {
      return json::parse(env.payload);
    } catch (const json::exception& e) {
      throw failure{exit_failed, std::string{"bad answer: "} + e.what()};
    }
  }

private:
  std::string auth_text() const {
    auto alert = tls_->last_alert();
    return "authentication failed: " + ep_.to_string() +
           " refused the admin key" +
           (alert.empty() ? "" : " (TLS alert: " + alert + ")");
  }

  void write_all(const std::string& bytes) { net::write_all(fd_, bytes); }

  /// Reads what is available, waiting until `deadline`; "" on EOF/timeout.
  std::string read_some(int64_t deadline) {
    bool eof = false;
    return net::read_some(fd_, deadline, eof);
  }

  config::endpoint ep_;
  std::string key_;
  int64_t timeout_ms_;
  int fd_ = -1;
  std::unique_ptr<crypto::tls_channel> tls_;
  wire::frame_decoder decoder_;
};

std::string age(int64_t ms) {
  if (ms <= 0)
    return "-";
  auto s = ms / 1000;
  if (s < 120)
    return std::to_string(s) + "s";
  if (s < 7200)
    return std::to_string(s / 60) + "m";
  return std::to_string(s / 3600) + "h";
}

std::string bytes_text(uint64_t b) {
  std::ostringstream out;
  out.precision(1);
  if (b < 10 * 1024)
    out << b << " B";
  else if (b < 10 * 1024 * 1024)
    out << std::fixed << static_cast<double>(b) / 1024 << " KiB";
  else
    out << std::fixed << static_cast<double>(b) / (1024 * 1024) << " MiB";
  return out.str();
}

std::string str(const json& j, const char* key) {
  if (!j.contains(key))
    return "";
  auto& v = j[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

/// The supervised components of a status or health document.
void print_components(const json& r) {
  std::printf("%-24s %-11s %8s  %s\n", "COMPONENT", "STATE", "RESTARTS",
              "LAST FAILURE");
  for (auto& c : r["components"])
    std::printf("%-24s %-11s %8s  %s\n", str(c, "path").c_str(),
                str(c, "state").c_str(), str(c, "restarts").c_str(),
                str(c, "last_reason").c_str());
}

void print_status(const json& r) {
  std::cout << "node " << str(r, "node") << " (" << str(r, "node_id")
            << ")  listen " << str(r, "listen") << "  network "
            << str(r, "network_id") << "\n";
  std::cout << "health: " << r["health"].value("level", "?")
            << "   peers connected: " << r.value("peers_connected", 0) << "\n";
  for (auto& reason : r["health"]["reasons"])
    std::cout << "  - " << reason.get<std::string>() << "\n";
  print_components(r);
}

/// Wall-clock milliseconds as a time of day (UTC) and the age.
std::string when(int64_t wall_ms) {
  if (wall_ms <= 0)
    return "-";
  auto secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%m-%d %H:%M:%S", &tm);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return std::string{buf} + " (" +
         (wall_ms > now ? "in " + age(wall_ms - now)
                        : age(now - wall_ms) + " ago") +
         ")";
}

void print_health(const json& r) {
  std::cout << "health: " << r["health"].value("level", "?") << "\n";
  for (auto& reason : r["health"]["reasons"])
    std::cout << "  - " << reason.get<std::string>() << "\n";
  if (r.contains("resources")) {
    auto& res = r["resources"];
    std::cout << "resources: rss "
              << bytes_text(res.value("rss_bytes", uint64_t{0})) << ", cpu "
              << res.value("cpu_seconds", 0.0) << " s, "
              << res.value("open_fds", 0) << " fds, data dir "
              << bytes_text(res.value("data_dir_bytes", uint64_t{0}))
              << ", disk free "
              << bytes_text(res.value("disk_free_bytes", uint64_t{0})) << " of "
              << bytes_text(res.value("disk_total_bytes", uint64_t{0})) << "\n";
  }
  std::cout << "members:";
  for (auto& [state, n] : r["members"].items())
    std::cout << " " << state << "=" << n.dump();
  std::cout << "\n";
  print_components(r);
}

void print_alerts(const json& r) {
  std::printf("%-16s %-20s %-8s %-9s %-30s %-28s %s\n", "ID", "ALERT",
              "SEVERITY", "STATE", "SINCE", "LABELS", "SUMMARY");
  for (auto& a : r["alerts"]) {
    std::string labels;
    for (auto& [k, v] : a["labels"].items())
      if (k != "alertname" && k != "severity")
        labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    std::string state = str(a, "state");
    if (a.value("inhibited", false))
      state += "/inhibited";
    else if (a.value("silenced", false))
      state += "/silenced";
    if (a.value("acked", false))
      state += "/acked";
    std::printf("%-16s %-20s %-8s %-9s %-30s %-28s %s\n", str(a, "id").c_str(),
                str(a, "alertname").c_str(), str(a, "severity").c_str(),
                state.c_str(),
                when(a.value("active_since_ms", int64_t{0})).c_str(),
                labels.c_str(), str(a, "summary").c_str());
  }
  if (r["alerts"].empty())
    std::cout << "(no alerts)\n";
  for (auto& s : r["silences"])
    std::cout << "silence " << str(s, "id") << ": " << str(s, "matchers")
              << " until " << when(s.value("until_ms", int64_t{0}))
              << (str(s, "comment").empty() ? ""
                                            : " (" + str(s, "comment") + ")")
              << "\n";
}

void print_actors(const json& rows) {
  std::printf("%-28s %-10s %-12s %-10s %8s %8s  %s\n", "ACTOR", "KIND",
              "STRATEGY", "STATE", "RESTARTS", "UPTIME", "LAST FAILURE");
  for (auto& r : rows)
    std::printf(
        "%-28s %-10s %-12s %-10s %8s %8s  %s\n", str(r, "path").c_str(),
        str(r, "kind").c_str(),
        (str(r, "strategy").empty() ? str(r, "restart") : str(r, "strategy"))
            .c_str(),
        str(r, "state").c_str(), str(r, "restarts").c_str(),
        age(r.value("uptime_ms", int64_t{0})).c_str(),
        str(r, "last_reason").c_str());
}

void print_members(const json& r) {
  auto& me = r["self"];
  std::cout << "self " << str(me, "name") << " (" << str(me, "id").substr(0, 8)
            << ") incarnation " << str(me, "incarnation") << ", health score "
            << str(r, "health_score") << "\n";
  std::printf("%-10s %-12s %-22s %-8s %11s %11s\n", "ID", "NAME", "ADDRESS",
              "STATE", "INCARNATION", "LAST HEARD");
  for (auto& m : r["members"]) {
    auto heard = m.value("last_heard_ms", int64_t{-1});
    std::printf("%-10s %-12s %-22s %-8s %11s %11s\n",
                str(m, "id").substr(0, 8).c_str(), str(m, "name").c_str(),
                str(m, "address").c_str(), str(m, "state").c_str(),
                str(m, "incarnation").c_str(),
                heard < 0 ? "never" : (age(heard) + " ago").c_str());
  }
}

void print_spores(const json& r) {
  std::cout << "self " << str(r, "self").substr(0, 8) << ": knows "
            << str(r, "known") << " nodes, " << str(r, "online")
            << " online; network " << str(r["master"], "network_id")
            << " epoch " << str(r["master"], "epoch") << "\n";
  std::printf("%-10s %-12s %-8s %-26s %-26s %s\n", "ID", "NAME", "STATE",
              "SINCE", "LAST ACTIVITY", "ADDRESSES");
  for (auto& n : r["nodes"]) {
    std::string addresses;
    for (auto& a : n["addresses"])
      addresses += (addresses.empty() ? "" : ",") + a.get<std::string>();
    std::printf("%-10s %-12s %-8s %-26s %-26s %s\n",
                str(n, "id").substr(0, 8).c_str(), str(n, "name").c_str(),
                str(n, "state").c_str(),
                when(n.value("since_ms", int64_t{0})).c_str(),
                when(n.value("last_activity_ms", int64_t{0})).c_str(),
                addresses.c_str());
  }
}

void print_spore(const json& r) {
  std::cout << str(r, "name") << " (" << str(r, "id") << ")\n"
            << "  state:          " << str(r, "state") << " since "
            << when(r.value("since_ms", int64_t{0})) << "\n"
            << "  incarnation:    " << str(r, "incarnation") << "\n"
            << "  first seen:     "
            << when(r.value("first_seen_ms", int64_t{0})) << "\n"
            << "  last activity:  "
            << when(r.value("last_activity_ms", int64_t{0})) << "\n"
            << "  data:           "
            << bytes_text(r.value("data_bytes", uint64_t{0})) << ", "
            << str(r, "processed_ops") << " operations processed\n"
            << "  activity periods:\n";
  for (auto& p : r["activity_periods"])
    std::cout << "    " << when(p.value("start_ms", int64_t{0})) << "  ->  "
              << when(p.value("end_ms", int64_t{0})) << "\n";
}

void print_db(const std::string& sub, const json& r) {
  if (sub == "get") {
    std::cout << str(r, "key") << " (" << str(r, "type") << "):";
    for (auto& v : r["values"])
      std::cout << " " << v.get<std::string>();
    std::cout << "\n";
  } else if (sub == "list") {
    for (auto& k : r["keys"])
      std::cout << k.get<std::string>() << "\n";
  } else if (sub == "stats") {
    std::cout << "keys " << str(r, "keys") << " (" << str(r, "entries")
              << " entries with deleted ones), "
              << bytes_text(r.value("bytes", uint64_t{0})) << ", read-only "
              << (r.value("read_only", false) ? "on" : "off") << ", digest "
              << str(r, "digest") << "\n";
    std::printf("%-20s %s\n", "PEER", "LAST RECONCILIATION");
    for (auto& [peer, at] : r["last_reconciliation_ms"].items()) {
      auto ms = at.get<int64_t>();
      std::printf("%-20s %s\n", peer.c_str(),
                  ms == 0 ? "never" : when(ms).c_str());
    }
  } else {
    std::cout << "ok\n";
  }
}

void print_service(const std::vector<std::string>& words, const json& r) {
  if (words.size() > 1 && words[1] == "call") {
    std::cout << str(r, "answer") << "\n";
    return;
  }
  std::printf("%-14s %-8s %-12s %-26s %-10s %8s  %s\n", "SERVICE", "KIND",
              "MERGE", "INSTANCE", "HOST", "OPS", "STATE");
  for (auto& s : r["services"]) {
    if (s["instances"].empty())
      std::printf("%-14s %-8s %-12s %-26s %-10s %8s  %s\n",
                  str(s, "name").c_str(), str(s, "kind").c_str(),
                  str(s, "merge").c_str(), "-", "-", "-", "not running");
    for (auto& i : s["instances"])
      std::printf(
          "%-14s %-8s %-12s %-26s %-10s %8s  %s%s\n", str(s, "name").c_str(),
          str(s, "kind").c_str(), str(s, "merge").c_str(), str(i, "id").c_str(),
          (str(i, "host_name") + (i.value("here", false) ? "*" : "")).c_str(),
          str(i, "ops").c_str(), i["state"].dump().c_str(),
          i.value("reachable", true) ? "" : "  (unreachable)");
  }
  std::cout << "(* hosted on this node)\n";
}

void print_isolation(const json& r) {
  auto mode = str(r, "mode");
  std::cout << "isolation: " << mode
            << (r.value("read_only", false) ? " (read-only)" : "")
            << (r.value("enabled", true) ? "" : " (controller disabled)")
            << "\n";
  if (!str(r, "reason").empty())
    std::cout << "  " << str(r, "reason") << "\n";
  auto since = r.value("isolated_since_ms", int64_t{0});
  if (since != 0)
    std::cout << "  isolated since " << when(since)
              << ", override possible from "
              << when(r.value("override_possible_at_ms", int64_t{0})) << "\n";
  if (mode == "overridden")
    std::cout << "  overridden by " << str(r, "overridden_by") << " at "
              << when(r.value("overridden_at_ms", int64_t{0}))
              << (str(r, "override_reason").empty()
                      ? ""
                      : ": " + str(r, "override_reason"))
              << "\n";
  std::cout << "  reachable peers: " << r.value("reachable", 0) << "\n";
  std::printf("  %-12s %-10s %s\n", "UNREACHABLE", "NODE ID", "ADDRESSES");
  for (auto& n : r["unreachable"]) {
    std::string addresses;
    for (auto& a : n["addresses"])
      addresses += (addresses.empty() ? "" : " ") + a.get<std::string>();
    std::printf("  %-12s %-10s %s\n",
                (str(n, "name").empty() ? "-" : str(n, "name")).c_str(),
                str(n, "id").substr(0, 8).c_str(), addresses.c_str());
  }
  auto& res = r["resources"];
  std::cout << "  disk free "
            << static_cast<int>(res.value("disk_free_ratio", 1.0) * 100) << "%";
  for (auto& s : res["shortfalls"])
    std::cout << "; short: " << s.get<std::string>();
  std::cout << "\n";
}

void print_peers(const json& r) {
  std::cout << "node " << str(r, "node_id") << " listening on "
            << str(r, "listen") << "\n";
  std::printf("%-10s %-10s %-4s %-22s %-12s %-3s %10s %10s %8s %8s\n", "PEER",
              "NODE ID", "DIR", "ADDRESS", "PHASE", "VER", "BYTES IN",
              "BYTES OUT", "FRAMES", "QUEUED");
  for (auto& c : r["connections"])
    std::printf("%-10s %-10s %-4s %-22s %-12s %-3s %10s %10s %8s %8s\n",
                (str(c, "name").empty() ? "-" : str(c, "name")).c_str(),
                str(c, "node_id").substr(0, 8).c_str(),
                str(c, "direction").c_str(), str(c, "address").c_str(),
                str(c, "phase").c_str(), str(c, "version").c_str(),
                bytes_text(c.value("bytes_in", uint64_t{0})).c_str(),
                bytes_text(c.value("bytes_out", uint64_t{0})).c_str(),
                (str(c, "frames_in") + "/" + str(c, "frames_out")).c_str(),
                str(c, "queued_frames").c_str());
  std::cout << "rejections:";
  if (r["rejections"].empty())
    std::cout << " none";
  for (auto& [why, n] : r["rejections"].items())
    std::cout << " " << why << "=" << n.dump();
  std::cout << "   queue-full drops: " << r.value("queue_full_drops", 0)
            << "   fault drops: " << r.value("fault_drops", 0) << "\n";
  for (auto& f : r["faults"])
    std::cout << "fault rule: " << f.dump() << "\n";
}

/// Turns command words into a request; throws usage failures.
json make_request(const std::vector<std::string>& words) {
  auto usage = [](const std::string& what) {
    return failure{exit_usage, what + " (see mycelium --help)"};
  };
  auto& cmd = words.at(0);
  json req{{"cmd", cmd}, {"args", json::array()}};
  auto need = [&](size_t n) {
    if (words.size() != n + 1)
      throw usage("'" + cmd + "' takes " + std::to_string(n) + " argument" +
                  (n == 1 ? "" : "s"));
  };
  if (cmd == "status" || cmd == "actors" || cmd == "peers" ||
      cmd == "members" || cmd == "spores" || cmd == "health" ||
      cmd == "metrics" || cmd == "alerts") {
    need(0);
  } else if (cmd == "ack" || cmd == "unsilence") {
    need(1);
    req["args"].push_back(words[1]);
  } else if (cmd == "silence") {
    if (words.size() != 3 && words.size() != 4)
      throw usage("silence takes MATCHERS DURATION [COMMENT], e.g. "
                  "silence peer=n3,alertname=NodeDown 2h maintenance");
    for (size_t i = 1; i < words.size(); ++i)
      req["args"].push_back(words[i]);
  } else if (cmd == "db") {
    if (words.size() < 2)
      throw usage("db needs a subcommand: put, get, del, list, stats or "
                  "read-only");
    // "--type T" anywhere after put is the same as T as last word.
    std::string type;
    for (size_t i = 1; i < words.size(); ++i) {
      if (words[i] == "--type") {
        if (i + 1 >= words.size())
          throw usage("--type needs lww, mv, counter or set");
        type = words[++i];
      } else {
        req["args"].push_back(words[i]);
      }
    }
    if (!type.empty())
      req["args"].push_back(type);
  } else if (cmd == "service") {
    if (words.size() == 1 || (words[1] == "list" && words.size() == 2)) {
      req["args"].push_back("list");
    } else if (words[1] == "call" && words.size() >= 4) {
      for (size_t i = 1; i < words.size(); ++i)
        req["args"].push_back(words[i]);
    } else {
      throw usage("service takes list, or call SERVICE OP [ARGS...]");
    }
  } else if (cmd == "isolation") {
    if (words.size() >= 2 && words[1] != "status" && words[1] != "override" &&
        words[1] != "revoke")
      throw usage("isolation takes status, override [--force] [REASON] or "
                  "revoke");
    for (size_t i = 1; i < words.size(); ++i)
      req["args"].push_back(words[i]);
  } else if (cmd == "inspect" || cmd == "kill" || cmd == "ping" ||
             cmd == "spore") {
    need(1);
    req["args"].push_back(words[1]);
  } else if (cmd == "fault") {
    if (words.size() < 2)
      throw usage("fault needs a kind: partition, drop, delay, duplicate or "
                  "clear");
    auto& kind = words[1];
    json rule;
    auto number = [&](const std::string& text) {
      try {
        size_t used = 0;
        double v = std::stod(text, &used);
        if (used != text.size() || !std::isfinite(v))
          throw std::invalid_argument(text);
        return v;
      } catch (const std::exception&) {
        throw usage("not a number: '" + text + "'");
      }
    };
    if (kind == "clear" && words.size() == 2) {
      rule["clear"] = true;
    } else if (kind == "partition" &&
               (words.size() == 3 || words.size() == 4)) {
      rule["peer"] = words[2];
      rule["partition"] = words.size() == 4 ? words[3] : "both";
    } else if (kind == "drop" && (words.size() == 4 || words.size() == 5)) {
      rule["peer"] = words[2];
      auto p = number(words[3]);
      auto dir = words.size() == 5 ? words[4] : "out";
      if (dir != "in" && dir != "out")
        throw usage("drop direction must be in or out, not '" + dir + "'");
      rule[dir == "in" ? "drop_in" : "drop"] = p;
    } else if (kind == "delay" && words.size() == 4) {
      rule["peer"] = words[2];
      rule["delay_ms"] = static_cast<int64_t>(number(words[3]));
    } else if (kind == "duplicate" && words.size() == 4) {
      rule["peer"] = words[2];
      rule["duplicate"] = number(words[3]);
    } else {
      throw usage("bad fault command");
    }
    req["args"].push_back(rule.dump());
  } else {
    throw usage("unknown command '" + cmd + "'");
  }
  return req;
}

/// Runs one command on `s`; prints; returns the exit code.
int run_command(session& s, const std::vector<std::string>& words,
                bool as_json) {
  auto req = make_request(words);
  auto answer = s.call(req);
  bool ok = answer.value("ok", false);
  if (as_json) {
    std::cout << answer.dump(2) << "\n";
  } else if (!ok) {
    std::cerr << "mycelium: " << words[0] << ": "
              << answer.value("error", std::string{"failed"}) << "\n";
  } else {
    auto& r = answer["result"];
    auto& cmd = words[0];
    if (cmd == "status")
      print_status(r);
    else if (cmd == "actors")
      print_actors(r);
    else if (cmd == "peers")
      print_peers(r);
    else if (cmd == "members")
      print_members(r);
    else if (cmd == "spores")
      print_spores(r);
    else if (cmd == "spore")
      print_spore(r);
    else if (cmd == "db")
      print_db(words[1], r);
    else if (cmd == "health")
      print_health(r);
    else if (cmd == "isolation")
      print_isolation(r);
    else if (cmd == "service")
      print_service(words, r);
    else if (cmd == "metrics")
      std::cout << str(r, "text");
    else if (cmd == "alerts")
      print_alerts(r);
    else if (cmd == "ack")
      std::cout << "acknowledged " << str(r, "acked") << "\n";
    else if (cmd == "silence")
      std::cout << "silence " << str(r, "silence") << " until "
                << when(r.value("until_ms", int64_t{0})) << "\n";
    else if (cmd == "unsilence")
      std::cout << "expired " << str(r, "expired") << "\n";
    else if (cmd == "ping")
      std::cout << "pong from " << str(r, "peer").substr(0, 8) << " in "
                << r.value("rtt_us", 0) << " us\n";
    else if (r.is_string())
      std::cout << r.get<std::string>() << "\n";
    else
      std::cout << r.dump(2) << "\n";
  }
  return ok ? exit_ok : exit_failed;
}

std::vector<std::string> split(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> words;
  std::string w;
  while (in >> w)
    words.push_back(w);
  return words;
}

int interactive(session& s, bool as_json, const std::string& prompt) {
  std::string path =
      std::string{std::getenv("HOME") ? std::getenv("HOME") : "."} +
      "/.mycelium_history";
  std::vector<std::string> history;
  {
    std::ifstream in{path};
    std::string line;
    while (std::getline(in, line))
      history.push_back(line);
  }
  std::ofstream out{path, std::ios::app};
  std::string line;
  bool tty = ::isatty(0);
  for (;;) {
    if (tty)
      std::cout << prompt << "> " << std::flush;
    if (!std::getline(std::cin, line))
      break;
    auto words = split(line);
    if (words.empty())
      continue;
    if (words[0] == "exit" || words[0] == "quit")
      break;
    if (words[0].size() > 1 && words[0][0] == '!') {
      auto n = std::atoi(words[0].c_str() + 1);
      if (n < 1 || static_cast<size_t>(n) > history.size()) {
        std::cerr << "no history entry " << words[0] << "\n";
        continue;
      }
      line = history[static_cast<size_t>(n) - 1];
      words = split(line);
      std::cout << line << "\n";
    }
    history.push_back(line);
    out << line << "\n" << std::flush;
    if (words[0] == "history") {
      for (size_t i = 0; i < history.size(); ++i)
        std::cout << "  " << i + 1 << "  " << history[i] << "\n";
      continue;
    }
    if (words[0] == "help") {
      std::cout << usage_text;
      continue;
    }
    try {
      run_command(s, words, as_json);
    } catch (const failure& f) {
      std::cerr << "mycelium: " << f.message << "\n";
      if (f.code == exit_unreachable || f.code == exit_auth)
        return f.code;
    }
  }
  return exit_ok;
}

std::string read_key(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  if (!in || !std::getline(in, line))
    throw failure{exit_usage, "cannot read admin key file " + path};
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
    line.pop_back();
  auto key = crypto::from_hex(line);
  if (!key || key->size() < 16)
    throw failure{exit_usage, "admin key file " + path +
                                  " must hold at least 16 bytes as hex"};
  return *key;
}

} // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string node;
  std::string key_path;
  bool as_json = false;
  double timeout_s = 5;
  std::vector<std::string> words;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc)
          throw failure{exit_usage, arg + " needs a value"};
        return argv[++i];
      };
      if (!words.empty()) {
        words.push_back(arg);
      } else if (arg == "--help" || arg == "-h") {
        std::cout << usage_text;
        return exit_ok;
      } else if (arg == "--config") {
        config_path = value();
      } else if (arg == "--node") {
        node = value();
      } else if (arg == "--admin-key") {
        key_path = value();
      } else if (arg == "--json") {
        as_json = true;
      } else if (arg == "--timeout") {
        timeout_s = std::atof(value().c_str());
        if (timeout_s <= 0)
          throw failure{exit_usage, "--timeout needs a positive number"};
      } else if (arg.rfind("--", 0) == 0) {
        throw failure{exit_usage, "unknown option '" + arg + "'"};
      } else {
        words.push_back(arg);
      }
    }
    config::endpoint ep;
    std::string key;
    std::string prompt = "mycelium";
    if (!config_path.empty()) {
      auto cfg = config::load(config_path);
      if (!cfg)
        throw failure{exit_usage, cfg.err().message()};
      if (cfg->admin_key_hex.empty())
        throw failure{exit_usage, config_path +
                                      ": no admin_key: the console is disabled "
                                      "on this node"};
      ep = cfg->listen;
      if (ep.host == "0.0.0.0" || ep.host == "::")
        ep.host = "127.0.0.1";
      key = *crypto::from_hex(cfg->admin_key_hex);
      prompt = cfg->name;
    }
    if (!node.empty()) {
      auto parsed = config::parse_endpoint(node);
      if (!parsed)
        throw failure{exit_usage, "--node: " + parsed.err().message()};
      ep = *parsed;
      prompt = node;
    }
    if (!key_path.empty())
      key = read_key(key_path);
    if (ep.port == 0 || key.empty())
      throw failure{exit_usage, "name a node: --config NODE.json, or --node "
                                "HOST:PORT with --admin-key FILE"};
    if (!words.empty())
      make_request(words); // usage errors before any network traffic
    session s{ep, key, static_cast<int64_t>(timeout_s * 1000)};
    s.open();
    if (words.empty())
      return interactive(s, as_json, prompt);
    return run_command(s, words, as_json);
  } catch (const failure& f) {
    if (as_json && f.code != exit_usage)
      std::cout << json{{"ok", false},
                        {"error", f.message},
                        {"exit_code", f.code}}
                       .dump(2)
                << "\n";
    std::cerr << "mycelium: " << f.message << "\n";
    if (f.code == exit_usage)
      std::cerr << "Try 'mycelium --help'.\n";
    return f.code;
  }
}
