#include "transport_bench.hpp"

#include "common.hpp"
#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/node_context.hpp"
#include "mycelium/actors/supervisor.hpp"
#include "mycelium/actors/system_config.hpp"
#include "mycelium/actors/transport.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/crypto/aead.hpp"
#include "mycelium/system/log.hpp"
#include "mycelium/wire/hello.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mycelium::bench {

namespace {

using namespace mycelium::actors;
using clock_type = std::chrono::steady_clock;
constexpr auto bench_kind = static_cast<uint16_t>(wire::kind::bench);
const char* key_hex =
    "6d7963656c69756d2d62656e63682d6b65792d30303030303030303030303031";

/// A node context for a bench endpoint (no database, fresh identity).
std::shared_ptr<node_context> make_context(const std::string& name,
                                           uint16_t port,
                                           std::vector<config::endpoint> seeds,
                                           bool plain) {
  auto ctx = std::make_shared<node_context>();
  auto& cfg = ctx->cfg;
  cfg.name = name;
  cfg.listen = {"127.0.0.1", port};
  cfg.network_id = "bench";
  cfg.isolation_key_hex = {key_hex};
  cfg.seeds = std::move(seeds);
  cfg.transport = config::transport_config::local();
  cfg.transport.max_queue_bytes = 64 << 20;
  ctx->identity = std::make_shared<const crypto::node_identity>(
      crypto::node_identity::generate());
  ctx->plaintext_for_benchmarks = plain;
  ctx->boot = name;
  ctx->wall_clock = [] { return log::wall_now_ms(); };
  return ctx;
}

/// Spawns a supervisor over the transport and, optionally, more children.
caf::actor spawn_endpoint(caf::actor_system& sys, node_context_ptr ctx,
                          std::vector<child_spec> extra = {}) {
  supervisor_options opts;
  opts.name = ctx->cfg.name;
  opts.children.push_back(transport_child(ctx));
  for (auto& c : extra)
    opts.children.push_back(std::move(c));
  return spawn_supervisor(sys, std::move(opts));
}

/// The peer's bench actor: 'c' frames are counted, 'd' asks for the count,
/// 'e' frames are echoed.
caf::behavior echo(caf::event_based_actor* self) {
  register_as(self->home_system(), "bench", caf::actor_cast<caf::actor>(self));
  auto count = std::make_shared<uint64_t>(0);
  return {
      [=](frame_atom, const std::string& from, uint16_t, std::string& payload) {
        if (payload.empty())
          return;
        auto transport = registered(self->home_system(), "transport");
        switch (payload[0]) {
        case 'c':
          ++*count;
          break;
        case 'd':
          self->send(transport, send_atom::value, from, bench_kind,
                     "d" + std::to_string(*count));
          break;
        case 'e':
          self->send(transport, send_atom::value, from, bench_kind,
                     std::move(payload));
          break;
        }
      },
  };
}

struct peer_process {
  pid_t pid = -1;
  std::string node_id;
  uint16_t port = 0;
};

peer_process start_peer(const char* self_exe, const std::string& name,
                        bool plain) {
  peer_process p;
  p.port = free_port();
  int out[2];
  if (::pipe(out) != 0)
    return p;
  p.pid = ::fork();
  if (p.pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    auto port = std::to_string(p.port);
    ::execl(self_exe, self_exe, "transport-peer", name.c_str(), port.c_str(),
            plain ? "plain" : "tls", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  // The peer prints "ready NODE_ID" once it listens.
  std::string line;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n')
    line += c;
  ::close(out[0]);
  if (line.rfind("ready ", 0) == 0)
    p.node_id = line.substr(6);
  return p;
}

void stop_peer(peer_process& p) {
  if (p.pid <= 0)
    return;
  ::kill(p.pid, SIGTERM);
  // A peer that does not stop within 5 s is killed: the bench must end.
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(p.pid, nullptr, WNOHANG) == p.pid) {
      p.pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(p.pid, SIGKILL);
  ::waitpid(p.pid, nullptr, 0);
  p.pid = -1;
}

/// Result of one transfer: frames, bytes and the seconds they took.
struct transfer {
  double msgs = 0;
  double bytes = 0;
  double secs = 0;
  bool ok = true;

  transfer& operator+=(const transfer& other) {
    msgs += other.msgs;
    bytes += other.bytes;
    secs += other.secs;
    ok = ok && other.ok;
    return *this;
  }
  double msgs_per_s() const { return ok && secs > 0 ? msgs / secs : 0.0; }
  double mb_per_s() const { return ok && secs > 0 ? bytes / secs / 1e6 : 0.0; }
};

/// Sends `batches` batches of `per_batch` frames of `size` bytes to `peer`,
/// two batches in flight.
transfer blast(caf::scoped_actor& self, const caf::actor& transport,
               const std::string& peer, size_t size, int batches,
               int per_batch) {
  std::string payload(size, 'x');
  payload[0] = 'c';
  auto t0 = clock_type::now();
  int in_flight = 0;
  int sent = 0;
  auto send_batch = [&] {
    for (int i = 0; i < per_batch; ++i)
      self->send(transport, send_atom::value, peer, bench_kind, payload);
    self->send(transport, send_atom::value, peer, bench_kind, std::string{"d"});
    ++in_flight;
    ++sent;
  };
  while (sent < batches && in_flight < 2)
    send_batch();
  transfer t;
  while (in_flight > 0 && t.ok) {
    self->receive(
        [&](frame_atom, const std::string&, uint16_t, const std::string&) {
          --in_flight;
          if (sent < batches)
            send_batch();
        },
        caf::after(std::chrono::seconds(30)) >> [&] { t.ok = false; });
  }
  t.secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  t.msgs = static_cast<double>(batches) * per_batch;
  t.bytes = t.msgs * static_cast<double>(size);
  return t;
}

double ping_once(caf::scoped_actor& self, const caf::actor& transport,
                 const std::string& peer) {
  double rtt = -1;
  self->request(transport, std::chrono::seconds(5), ping_atom::value, peer)
      .receive([&](std::string& doc) { rtt = json::parse(doc)["rtt_us"]; },
               [](caf::error&) {});
  return rtt;
}

/// CPU seconds (user + system) process `pid` has used so far.
double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  // Fields after the command name: state is field 3, utime 14, stime 15.
  auto rp = line.rfind(')');
  if (rp == std::string::npos)
    return 0;
  std::istringstream in(line.substr(rp + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i)
    if (i >= 14)
      ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// One side of the comparison, TLS or plain: a transport in this process
/// (its own actor system) connected to two peer processes, B (transfers)
/// and C (pings on a second connection). Both sides exist at once, so the
/// scenario can alternate between them and neither gets a quieter machine.
class side {
public:
  side(const char* self_exe, bool plain) {
    b_ = start_peer(self_exe, plain ? "plain-b" : "tls-b", plain);
    c_ = start_peer(self_exe, plain ? "plain-c" : "tls-c", plain);
    if (b_.node_id.empty() || c_.node_id.empty()) {
      error_ = "peer processes did not start";
      return;
    }
    apply_runtime_defaults(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
    register_as(*sys_, "bench", caf::actor{*self_});
    auto ctx =
        make_context(plain ? "plain-a" : "tls-a", free_port(),
                     {{"127.0.0.1", b_.port}, {"127.0.0.1", c_.port}}, plain);
    root_ = spawn_endpoint(*sys_, ctx);
    // Wait until both peers are connected (deadline 10 s).
    for (int i = 0; i < 500 && !ok_; ++i) {
      transport_ = registered(*sys_, "transport");
      if (transport_)
        (*self_)
            ->request(transport_, std::chrono::seconds(1), peers_atom::value)
            .receive(
                [&](std::string& doc) {
                  int up = 0;
                  auto parsed = json::parse(doc);
                  for (auto& conn : parsed["connections"])
                    if (conn["phase"] == "established") {
                      ++up;
                      if (conn["node_id"] == b_.node_id)
                        cipher_ = conn["cipher"];
                    }
                  ok_ = up == 2;
                },
                [](caf::error&) {});
      if (!ok_)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!ok_)
      error_ = "peers did not connect";
  }

  ~side() {
    if (sys_) {
      auto& self = *self_;
      self->send(root_, shutdown_atom::value);
      // Bounded: a root that does not stop within 10 s is killed.
      self->monitor(root_);
      bool down = false;
      while (!down)
        self->receive(
            [&](caf::down_msg& msg) { down = msg.source == root_; },
            [](frame_atom, const std::string&, uint16_t, const std::string&) {},
            caf::after(std::chrono::seconds(10)) >>
                [&] { self->send_exit(root_, caf::exit_reason::kill); });
      self_.reset();
      sys_.reset();
    }
    stop_peer(b_);
    stop_peer(c_);
  }

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& cipher() const { return cipher_; }

  /// One round trip to B (or C), in microseconds; -1 when it failed, which
  /// ends the scenario (better an error than hours of timeouts).
  double ping(bool second_connection = false) {
    auto rtt = ping_once(*self_, transport_,
                         second_connection ? c_.node_id : b_.node_id);
    if (rtt < 0) {
      ok_ = false;
      error_ = "a ping went unanswered";
    }
    return rtt;
  }

  /// The process receiving the transfers.
  pid_t receiver() const { return b_.pid; }

  transfer send(size_t size, int batches, int per_batch) {
    auto t = blast(*self_, transport_, b_.node_id, size, batches, per_batch);
    if (!t.ok) {
      ok_ = false;
      error_ = "the " + std::to_string(size) +
               " B transfer stalled (no count reply within 30 s)";
    }
    return t;
  }

  /// A transfer to B while C is pinged every millisecond (a ping flood
  /// would be load of its own); the round trips go to `pings`.
  transfer send_while_pinging(size_t size, int batches, int per_batch,
                              std::vector<double>& pings) {
    std::atomic<bool> done{false};
    std::thread pinger{[&] {
      caf::scoped_actor pinger_self{*sys_};
      auto next = clock_type::now();
      while (!done) {
        if (auto rtt = ping_once(pinger_self, transport_, c_.node_id); rtt >= 0)
          pings.push_back(rtt);
        next += std::chrono::milliseconds(1);
        std::this_thread::sleep_until(next);
      }
    }};
    auto t = send(size, batches, per_batch);
    done = true;
    pinger.join();
    return t;
  }

private:
  peer_process b_;
  peer_process c_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  caf::actor root_;
  caf::actor transport_;
  bool ok_ = false;
  std::string error_;
  std::string cipher_;
};

/// One core sealing 1 MiB records with the suite's cipher for `seconds`:
/// the ceiling of any TLS transport here.
transfer aead_limit(const std::string& suite, double seconds) {
  auto algo = suite.find("CHACHA20") != std::string::npos  ? "ChaCha20Poly1305"
              : suite.find("AES_128") != std::string::npos ? "AES-128/GCM"
                                                           : "AES-256/GCM";
  transfer t;
  auto sealer = crypto::aead_sealer::make(algo);
  if (!sealer) {
    t.ok = false;
    return t;
  }
  const size_t record = size_t{1} << 20;
  auto t0 = clock_type::now();
  auto limit = std::chrono::duration<double>(seconds);
  while (clock_type::now() - t0 < limit) {
    sealer->seal(record);
    t.bytes += static_cast<double>(record);
  }
  t.secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  return t;
}

/// Bytes over one loopback TCP connection between two threads, 1 MiB
/// writes and reads, no framing, no cipher: what the kernel alone costs.
struct raw_tcp {
  transfer t;
  /// CPU seconds of the writing and the reading thread.
  double writer_cpu_s = 0;
  double reader_cpu_s = 0;

  raw_tcp& operator+=(const raw_tcp& other) {
    t += other.t;
    writer_cpu_s += other.writer_cpu_s;
    reader_cpu_s += other.reader_cpu_s;
    return *this;
  }
};

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         static_cast<double>(ts.tv_nsec) * 1e-9;
}

raw_tcp raw_loopback(size_t total_bytes) {
  // Two threads of this process, not a forked child: a fork would make
  // every page of this process copy-on-write and the transfer measured next
  // would pay the page faults.
  raw_tcp r;
  r.t.ok = false;
  const size_t chunk = size_t{1} << 20;
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int out = -1;
  if (listener >= 0 &&
      ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
      ::listen(listener, 1) == 0) {
    out = ::socket(AF_INET, SOCK_STREAM, 0);
    if (out >= 0 &&
        ::connect(out, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      ::close(out);
      out = -1;
    }
  }
  int in = out >= 0 ? ::accept(listener, nullptr, nullptr) : -1;
  if (listener >= 0)
    ::close(listener);
  if (in < 0) {
    if (out >= 0)
      ::close(out);
    return r;
  }
  size_t sent = 0;
  std::thread writer{[&] {
    std::vector<char> buf(chunk, 'x');
    auto cpu0 = thread_cpu_seconds();
    while (sent < total_bytes) {
      auto n = ::write(out, buf.data(), std::min(chunk, total_bytes - sent));
      if (n <= 0)
        break;
      sent += static_cast<size_t>(n);
    }
    r.writer_cpu_s = thread_cpu_seconds() - cpu0;
    ::close(out);
  }};
  std::vector<char> buf(chunk);
  size_t got = 0;
  auto cpu0 = thread_cpu_seconds();
  auto t0 = clock_type::now();
  for (ssize_t n; (n = ::read(in, buf.data(), chunk)) > 0;)
    got += static_cast<size_t>(n);
  r.t.secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  r.reader_cpu_s = thread_cpu_seconds() - cpu0;
  ::close(in);
  writer.join();
  r.t.ok = got == total_bytes && sent == total_bytes;
  r.t.bytes = static_cast<double>(got);
  r.t.msgs = r.t.bytes / static_cast<double>(chunk);
  return r;
}

/// Figures of one side.
struct figures {
  std::vector<double> rtt_us;
  /// payload size -> transfer totals
  std::map<size_t, transfer> throughput;
  std::vector<double> ping_idle_us;
  std::vector<double> ping_bulk_us;
  /// The cipher alone (TLS side only).
  transfer aead;
  /// The kernel alone: raw loopback TCP (TLS side only).
  raw_tcp raw;
  /// CPU seconds during the bulk transfer: this process (sender, with the
  /// bench's own copies) and the receiving peer.
  double sender_cpu_s = 0;
  double receiver_cpu_s = 0;
};

/// Runs every phase on both sides, alternating: round trips one by one,
/// transfers in halves (TLS, plain, TLS, plain), so slow drifts of a shared
/// machine hit both alike. False (with `error`) when a side failed.
bool measure(side& tls, side& plain, int pings, figures& t, figures& p,
             std::string& error) {
  // Transfer sizes scale with the ping count (3000 by default).
  auto scale = [&](int n) { return std::max(2, n * pings / 3000); };
  auto both_ok = [&] {
    if (!tls.ok())
      error = "TLS: " + tls.error();
    else if (!plain.ok())
      error = "plain: " + plain.error();
    return tls.ok() && plain.ok();
  };
  for (int i = 0; i < 200 && both_ok(); ++i) { // warm-up
    tls.ping();
    plain.ping();
  }
  for (int i = 0; i < pings && both_ok(); ++i) {
    t.rtt_us.push_back(tls.ping());
    p.rtt_us.push_back(plain.ping());
  }
  struct phase {
    size_t size;
    int batches;
    int per_batch;
  };
  for (auto ph : {phase{64, scale(300), 1000}, phase{65536, scale(100), 16}})
    for (int half = 0; half < 2 && both_ok(); ++half) {
      t.throughput[ph.size] += tls.send(ph.size, ph.batches / 2, ph.per_batch);
      p.throughput[ph.size] +=
          plain.send(ph.size, ph.batches / 2, ph.per_batch);
    }
  for (int i = 0; i < 500 && both_ok(); ++i) {
    t.ping_idle_us.push_back(tls.ping(true));
    p.ping_idle_us.push_back(plain.ping(true));
  }
  // Bulk to B while the second connection (to C) is pinged; the cipher
  // alone is measured before, between and after, as the machine is then.
  size_t mib = size_t{1} << 20;
  const size_t raw_bytes = size_t{256} << 20;
  t.aead += aead_limit(tls.cipher(), 0.35);
  t.raw += raw_loopback(raw_bytes);
  for (int half = 0; half < 2 && both_ok(); ++half) {
    for (auto [s, f] : {std::pair<side*, figures*>{&tls, &t}, {&plain, &p}}) {
      auto sender0 = cpu_seconds(::getpid());
      auto receiver0 = cpu_seconds(s->receiver());
      f->throughput[mib] +=
          s->send_while_pinging(mib, scale(64) / 2, 4, f->ping_bulk_us);
      f->sender_cpu_s += cpu_seconds(::getpid()) - sender0;
      f->receiver_cpu_s += cpu_seconds(s->receiver()) - receiver0;
    }
    t.aead += aead_limit(tls.cipher(), 0.35);
    t.raw += raw_loopback(raw_bytes);
  }
  if (!t.raw.t.ok)
    error = "the raw loopback TCP transfer failed";
  return both_ok() && t.raw.t.ok;
}

} // namespace

int run_transport(bool as_json, const char* self_exe, int pings) {
  if (!as_json)
    std::cerr << "transport: starting the TLS and the plain-TCP sides (3 "
                 "processes each)...\n";
  figures tls;
  figures plain;
  std::string cipher;
  std::string error;
  {
    side tls_side{self_exe, false};
    side plain_side{self_exe, true};
    cipher = tls_side.cipher();
    if (!as_json)
      std::cerr << "transport: measuring both, alternating...\n";
    if (!measure(tls_side, plain_side, pings, tls, plain, error)) {
      std::cerr << "mycelium-bench: transport scenario failed: " << error
                << "\n";
      return 1;
    }
  }
  auto limit = tls.aead.mb_per_s();
  for (size_t size : {size_t{64}, size_t{65536}, size_t{1} << 20}) {
    auto msgs = tls.throughput[size].msgs_per_s();
    auto mbs = tls.throughput[size].mb_per_s();
    auto bmsgs = plain.throughput[size].msgs_per_s();
    auto bmbs = plain.throughput[size].mb_per_s();
    json out{{"scenario", "transport"},
             {"payload_bytes", size},
             {"cipher", cipher},
             {"msgs_per_s", msgs},
             {"mb_per_s", mbs},
             {"baseline", "same framing and transport over plain TCP"},
             {"baseline_msgs_per_s", bmsgs},
             {"baseline_mb_per_s", bmbs},
             {"ratio", bmsgs > 0 ? msgs / bmsgs : 0.0}};
    if (size == 64) {
      auto p50 = percentile(tls.rtt_us, 0.5);
      auto bp50 = percentile(plain.rtt_us, 0.5);
      out["rtt_p50_us"] = p50;
      out["rtt_p99_us"] = percentile(tls.rtt_us, 0.99);
      out["baseline_rtt_p50_us"] = bp50;
      out["baseline_rtt_p99_us"] = percentile(plain.rtt_us, 0.99);
      out["rtt_ratio"] = bp50 > 0 ? p50 / bp50 : 0.0;
    }
    if (size == (size_t{1} << 20)) {
      // Where the time goes: CPU per byte in each process, and what the
      // machine's cores could carry at that cost if never idle.
      auto bytes = tls.throughput[size].bytes;
      auto sender = bytes > 0 ? tls.sender_cpu_s * 1e9 / bytes : 0.0;
      auto receiver = bytes > 0 ? tls.receiver_cpu_s * 1e9 / bytes : 0.0;
      out["sender_cpu_ns_per_byte"] = sender;
      out["receiver_cpu_ns_per_byte"] = receiver;
      out["cores"] = std::thread::hardware_concurrency();
      out["cores_ceiling_mb_s"] =
          sender + receiver > 0
              ? std::thread::hardware_concurrency() * 1e3 / (sender + receiver)
              : 0.0;
      // The best any TLS transport could do here: its only costs the
      // cipher on both sides (opening costs about what sealing does) and
      // the kernel's raw loopback TCP, on every core, or on one core per
      // side if that binds first.
      auto raw_bytes = tls.raw.t.bytes;
      auto writer = raw_bytes > 0 ? tls.raw.writer_cpu_s * 1e9 / raw_bytes : 0;
      auto reader = raw_bytes > 0 ? tls.raw.reader_cpu_s * 1e9 / raw_bytes : 0;
      auto cipher_ns = limit > 0 ? 1e3 / limit : 0.0;
      auto bound = std::min(std::thread::hardware_concurrency() * 1e3 /
                                (writer + reader + 2 * cipher_ns),
                            1e3 / (std::max(writer, reader) + cipher_ns));
      out["raw_tcp_mb_s"] = tls.raw.t.mb_per_s();
      out["raw_tcp_cpu_ns_per_byte"] = writer + reader;
      out["cipher_and_kernel_bound_mb_s"] = bound;
      out["aead_limit_mb_s"] = limit;
      out["ratio_to_aead_limit"] = limit > 0 ? mbs / limit : 0.0;
      out["ping_p99_idle_us"] = percentile(tls.ping_idle_us, 0.99);
      out["ping_p99_during_bulk_us"] = percentile(tls.ping_bulk_us, 0.99);
      out["ping_samples_during_bulk"] = tls.ping_bulk_us.size();
      out["baseline_ping_p99_during_bulk_us"] =
          percentile(plain.ping_bulk_us, 0.99);
    }
    if (as_json) {
      std::cout << out.dump() << "\n";
      continue;
    }
    std::printf("transport %7zu B: %10.0f msg/s %8.1f MB/s | plain %10.0f "
                "msg/s %8.1f MB/s | ratio %.2f\n",
                size, msgs, mbs, bmsgs, bmbs, out["ratio"].get<double>());
    if (size == 64)
      std::printf("  round trip p50 %.1f us p99 %.1f us | plain p50 %.1f us "
                  "p99 %.1f us | ratio %.2f\n",
                  out["rtt_p50_us"].get<double>(),
                  out["rtt_p99_us"].get<double>(),
                  out["baseline_rtt_p50_us"].get<double>(),
                  out["baseline_rtt_p99_us"].get<double>(),
                  out["rtt_ratio"].get<double>());
    if (size == (size_t{1} << 20)) {
      std::printf("  AEAD limit (%s, one core) %.1f MB/s, ratio %.2f; ping "
                  "on a 2nd connection p99 idle %.0f us, during bulk %.0f "
                  "us\n",
                  cipher.c_str(), limit,
                  out["ratio_to_aead_limit"].get<double>(),
                  out["ping_p99_idle_us"].get<double>(),
                  out["ping_p99_during_bulk_us"].get<double>());
      std::printf("  CPU per byte: sender %.2f ns, receiver %.2f ns; %u "
                  "cores never idle would carry %.0f MB/s\n",
                  out["sender_cpu_ns_per_byte"].get<double>(),
                  out["receiver_cpu_ns_per_byte"].get<double>(),
                  out["cores"].get<unsigned>(),
                  out["cores_ceiling_mb_s"].get<double>());
      std::printf("  raw loopback TCP (1 MiB writes, no cipher) %.0f MB/s at "
                  "%.2f ns of CPU per byte; with only the cipher added on "
                  "both sides the cores would carry at most %.0f MB/s\n",
                  out["raw_tcp_mb_s"].get<double>(),
                  out["raw_tcp_cpu_ns_per_byte"].get<double>(),
                  out["cipher_and_kernel_bound_mb_s"].get<double>());
    }
  }
  return 0;
}

int run_transport_peer(int argc, char** argv) {
  // transport-peer NAME PORT tls|plain
  if (argc != 5)
    return 2;
  log::configure(argv[2], log::level::error, "");
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto ctx = make_context(argv[2], static_cast<uint16_t>(std::atoi(argv[3])),
                          {}, std::string{argv[4]} == "plain");
  caf::actor_system_config cfg;
  apply_runtime_defaults(cfg);
  caf::actor_system sys{cfg};
  child_spec echo_spec;
  echo_spec.id = "bench";
  echo_spec.start = [](caf::event_based_actor* sup) {
    return sup->spawn<caf::linked>(echo);
  };
  auto root = spawn_endpoint(sys, ctx, {echo_spec});
  // Ready once the transport registered (it listens before registering).
  for (int i = 0; i < 500; ++i) {
    if (registered(sys, "transport"))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("ready %s\n", ctx->identity->node_id().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  alarm(10); // never outlive a hung shutdown
  caf::anon_send(root, shutdown_atom::value);
  return 0;
}

} // namespace mycelium::bench
