/// mycelium-bench: runs a scenario next to its baseline in the same process
/// run and prints both figures and their ratio.
///
/// Scenarios:
///   restart   crash-to-answering latency of a supervised actor that reloads
///             a small state from SQLite, against spawning a plain actor that
///             reads the same state.
///
/// Exit codes: 0 success, 1 the scenario failed, 2 usage error.

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/supervisor.hpp"
#include "mycelium/actors/system_config.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/store/state_store.hpp"
#include "mycelium/system/log.hpp"

#include "common.hpp"
#include "gdb_bench.hpp"
#include "membership_bench.hpp"
#include "metrics_bench.hpp"
#include "transport_bench.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

using namespace mycelium;
using namespace mycelium::actors;
using mycelium::bench::percentile;
using clock_type = std::chrono::steady_clock;
using ready_atom = caf::atom_constant<caf::atom("ready")>;

const char* usage_text =
    R"(usage: mycelium-bench SCENARIO [--json] [--iterations N] [--trials N]
                       [--seconds N]

Scenarios:
  restart   crash-to-answering latency of a supervised actor that reloads a
            small state from SQLite (p50, p99 over N restarts), next to a
            baseline that spawns a plain CAF actor reading the same state.
  transport the TLS transport from this process to two peer processes on
            loopback: round trip p50/p99, msg/s for 64 B and 64 KiB, MB/s
            for 1 MiB (with the AEAD cipher's one-core limit, measured
            around the transfer), and the p99 ping on the second connection
            during the bulk transfer; baseline: the same framing and
            transport over plain TCP, set up next to it and measured
            alternately (round trips one by one, transfers in halves).
            For 1 MiB also the CPU per byte of sender and receiver, and
            raw loopback TCP (no framing, no cipher) with the bound it puts,
            with the cipher on both sides, on any TLS transport here.
  membership failure detection between 5 myceliumd processes (lan profile):
            time until every other node marks a SIGSTOPped member failed,
            and the same after kill -9, p50 and max over --trials (10).
  gdb       the Global Database's CRDTs: delta merge throughput (next to a
            std::map insert), and Merkle reconciliation of --iterations keys
            (100000) with 1% diverged: bytes, messages, rounds and time,
            next to shipping the full state both ways ("ratio", target
            <= 0.05); write latency p50/p99 with persist-before-ack next to
            a plain SQLite insert of the same bytes. In process.
  metrics   /metrics scrape time p50/p99 through the daemon's HTTP endpoint
            with --iterations series (10000; target p99 <= 100 ms), and
            one counter increment next to a plain atomic increment.
  membership-load
            false failures: 5 myceliumd processes (lan profile) run for
            --seconds (600) while two busy-loop processes per core saturate
            the CPU; prints the failures and suspicions every node declared
            (target 0 failures; exit 1 if any).

Each scenario runs its baseline in the same process run. --json prints one
JSON object per line with "scenario", the figures, the baseline's figures and
"ratio". Exit codes: 0 success, 1 the scenario failed, 2 usage error.
)";

double micros(clock_type::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

/// The state a worker persists (small, as a typical subsystem's cursor).
const std::string bench_state(256, 's');

/// A supervised worker: loads its state before its first message, tells the
/// bench it is ready, answers pings.
caf::behavior worker(caf::event_based_actor* self,
                     std::shared_ptr<store::state_store> states,
                     caf::actor bench) {
  auto saved = states->load("bench", "state");
  if (!saved || !saved->has_value() || (*saved)->value != bench_state) {
    self->quit(make_error(errc::store_failed, "state not reloaded"));
    return {};
  }
  self->send(bench, ready_atom::value, caf::actor_cast<caf::actor>(self));
  return {[](ping_atom) { return pong_atom::value; }};
}

/// The baseline: a plain actor that reads the same state, then answers.
caf::behavior plain_worker(caf::event_based_actor* self,
                           std::shared_ptr<store::state_store> states) {
  auto saved = states->load("bench", "state");
  if (!saved || !saved->has_value()) {
    self->quit(make_error(errc::store_failed, "state not read"));
    return {};
  }
  return {[](ping_atom) { return pong_atom::value; }};
}

/// Drives the measurement from inside the actor system, so both the restart
/// path and the baseline pay only actor hops, never the wake-up of a blocking
/// thread: crash the worker, wait for the new incarnation's ready, ping it;
/// then spawn plain workers and ping them.
struct probe_state {
  static constexpr const char* name = "bench-probe";
  int remaining = 0;
  clock_type::time_point t0;
  std::vector<double> restart_us;
  std::vector<double> baseline_us;
  caf::actor current;
};

using done_atom = caf::atom_constant<caf::atom("done")>;
using go_atom = caf::atom_constant<caf::atom("go")>;
using samples = std::vector<double>;

caf::behavior probe(caf::stateful_actor<probe_state>* self, int iterations,
                    std::shared_ptr<store::state_store> states,
                    caf::actor report) {
  self->state.remaining = iterations;
  auto fail = [=](caf::error err) {
    self->send(report, done_atom::value, describe(err));
    self->quit();
  };
  auto next_baseline = std::make_shared<std::function<void()>>();
  *next_baseline = [=] {
    auto& st = self->state;
    if (st.remaining-- == 0) {
      self->send(report, done_atom::value, st.restart_us, st.baseline_us);
      self->quit();
      return;
    }
    st.t0 = clock_type::now();
    auto plain = self->spawn(plain_worker, states);
    self->request(plain, std::chrono::seconds(10), ping_atom::value)
        .then(
            [=](pong_atom) {
              self->state.baseline_us.push_back(
                  micros(clock_type::now() - self->state.t0));
              self->send_exit(plain, caf::exit_reason::user_shutdown);
              (*next_baseline)();
            },
            fail);
  };
  auto crash = make_error(errc::fault_injected, "bench");
  return {
      // The first ready comes from the initial start; each later one from a
      // restart caused by the crash sent just before.
      [=](ready_atom, caf::actor& w) {
        auto& st = self->state;
        st.current = w;
        bool measuring = st.remaining < iterations;
        self->request(w, std::chrono::seconds(10), ping_atom::value)
            .then(
                [=](pong_atom) {
                  auto& st = self->state;
                  if (measuring)
                    st.restart_us.push_back(micros(clock_type::now() - st.t0));
                  if (st.remaining-- == 0) {
                    st.remaining = iterations;
                    (*next_baseline)();
                    return;
                  }
                  st.t0 = clock_type::now();
                  self->send_exit(st.current, crash);
                },
                fail);
      },
  };
}

int run_restart(bool as_json, int iterations) {
  char dir_template[] = "/tmp/mycelium-bench-XXXXXX";
  std::string dir = ::mkdtemp(dir_template);
  auto db = store::database::open(dir + "/bench.db");
  if (!db) {
    std::cerr << "mycelium-bench: " << db.err().message() << "\n";
    return 1;
  }
  auto states =
      std::make_shared<store::state_store>(*store::state_store::open(*db));
  if (!states->save("bench", "state", bench_state)) {
    std::cerr << "mycelium-bench: cannot save the bench state\n";
    return 1;
  }
  samples restart_us;
  samples baseline_us;
  int code = 0;
  {
    caf::actor_system_config cfg;
    apply_runtime_defaults(cfg);
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    auto driver = sys.spawn(probe, iterations, states, caf::actor{self});
    supervisor_options opts;
    opts.name = "bench";
    opts.policy.max_restarts = iterations * 2;
    opts.policy.restart_window = std::chrono::hours(1);
    // Every crash comes after a quiet period, so every restart is the
    // immediate first restart (no backoff): what we measure is the
    // supervision path itself.
    opts.policy.backoff_reset = duration::zero();
    child_spec spec;
    spec.id = "worker";
    spec.start = [states, driver](caf::event_based_actor* sup) {
      return sup->spawn<caf::linked>(worker, states, driver);
    };
    opts.children.push_back(spec);
    auto sup = spawn_supervisor(sys, opts);
    self->receive(
        [&](done_atom, samples& r, samples& b) {
          restart_us = std::move(r);
          baseline_us = std::move(b);
        },
        [&](done_atom, std::string& why) {
          std::cerr << "mycelium-bench: restart scenario failed: " << why
                    << "\n";
          code = 1;
        },
        caf::after(std::chrono::minutes(5)) >>
            [&] {
              std::cerr << "mycelium-bench: restart scenario timed out\n";
              code = 1;
              self->send_exit(driver, caf::exit_reason::kill);
            });
    self->send(sup, shutdown_atom::value);
    self->wait_for(sup);
  }
  db->reset();
  std::system(("rm -rf '" + dir + "'").c_str());
  if (code != 0)
    return code;
  auto p50 = percentile(restart_us, 0.50);
  auto p99 = percentile(restart_us, 0.99);
  auto b50 = percentile(baseline_us, 0.50);
  auto b99 = percentile(baseline_us, 0.99);
  json out{{"scenario", "restart"},
           {"restarts", restart_us.size()},
           {"state_bytes", bench_state.size()},
           {"p50_us", p50},
           {"p99_us", p99},
           {"baseline", "spawn a plain CAF actor that reads the same state"},
           {"baseline_p50_us", b50},
           {"baseline_p99_us", b99},
           {"ratio", b50 > 0 ? p50 / b50 : 0.0}};
  if (as_json) {
    std::cout << out.dump() << "\n";
  } else {
    std::printf("restart: %zu crashes of a supervised actor reloading %zu "
                "bytes from SQLite\n",
                restart_us.size(), bench_state.size());
    std::printf("  crash to answering   p50 %8.1f us   p99 %8.1f us\n", p50,
                p99);
    std::printf("  baseline (spawn+read) p50 %8.1f us   p99 %8.1f us\n", b50,
                b99);
    std::printf("  ratio (p50 / baseline p50) %.2f\n",
                out["ratio"].get<double>());
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string{argv[1]} == "transport-peer")
    return bench::run_transport_peer(argc, argv);
  std::string scenario;
  bool as_json = false;
  int iterations = 2000;
  int trials = 10;
  int seconds = 600;
  bool iterations_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      return 0;
    } else if (arg == "--json") {
      as_json = true;
    } else if (arg == "--iterations" && i + 1 < argc) {
      iterations = std::atoi(argv[++i]);
      iterations_set = true;
      if (iterations < 1) {
        std::cerr << "mycelium-bench: --iterations needs a positive number\n";
        return 2;
      }
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--trials" && i + 1 < argc) {
      trials = std::max(1, std::atoi(argv[++i]));
    } else if (scenario.empty() && arg.rfind("--", 0) != 0) {
      scenario = arg;
    } else {
      std::cerr << "mycelium-bench: unknown argument '" << arg
                << "'\nTry 'mycelium-bench --help'.\n";
      return 2;
    }
  }
  // Supervisors log every restart; a benchmark wants only its figures.
  log::configure("bench",
                 std::getenv("MYCELIUM_BENCH_LOG") ? log::level::debug
                                                   : log::level::error,
                 "");
  if (scenario == "restart")
    return run_restart(as_json, iterations);
  if (scenario == "transport")
    return bench::run_transport(as_json, "/proc/self/exe",
                                iterations_set ? iterations : 3000);
  if (scenario == "membership")
    return bench::run_membership(as_json, trials, "/proc/self/exe");
  if (scenario == "gdb")
    return bench::run_gdb(as_json, iterations_set ? iterations : 100000);
  if (scenario == "metrics")
    return bench::run_metrics(as_json, iterations_set ? iterations : 10000,
                              200);
  if (scenario == "membership-load")
    return bench::run_membership_load(as_json, seconds, "/proc/self/exe");
  std::cerr << "mycelium-bench: "
            << (scenario.empty() ? "missing scenario"
                                 : "unknown scenario '" + scenario + "'")
            << "\nTry 'mycelium-bench --help'.\n";
  return 2;
}
