/// mycelium-sim: runs many membership cores over a simulated network.
///
/// Exit codes: 0 every run passed its invariants, 1 a run violated one (its
/// seed is printed; --seed S replays it exactly), 2 usage error.

#include "mycelium/json/json.hpp"
#include "mycelium/sim/gdb_sim.hpp"
#include "mycelium/sim/spore_sim.hpp"
#include "mycelium/sim/swim_sim.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

const char* usage_text =
    R"(usage: mycelium-sim --nodes N --seed S [--json] [options]

Runs N membership cores (the daemon's SWIM + Lifeguard code) over a simulated
clock and network, checks invariants as it runs, and prints its figures.

  --scenario NAME   crash (default), partition, oneway, bridge, single,
                    pause, slow, leave; or spores (the spore tracker: a
                    partition into halves, --churn nodes stop and join on
                    each side, heal; prints sync rounds and bytes until
                    every node holds the same spore set, next to a
                    baseline that ships the full set on every exchange)
                    or gdb (the Global Database: writes on every side of
                    a partition, a node crashes and restarts from its
                    store, heal; checks byte-identical replicas and that
                    every acknowledged write is reflected)
  --churn K         spores: nodes that stop and join per side (default 3)
  --shape NAME      gdb: halves, single, three, bridge, oneway, or any
                    (default: one per seed, in turn)
  --seeds K         run seeds S, S+1, ... S+K-1 (stops at the first failure)
  --loss P          drop each message with probability P
  --duplicate P     deliver a message twice with probability P
  --delay MIN:MAX   one-way delay in ms (default 1:5; reorders messages)
  --slow F          fraction F of nodes whose messages take 1.5 s longer
  --lifeguard off   disable local health awareness and suspicion shrinking
  --profile local   fast timings (default: lan)

Memory: a 1000-node run allocates about 700 MB; page faults on it cost a
third of the run. Unless GLIBC_TUNABLES is set, the simulator re-executes
itself once with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (malloc asks for
transparent huge pages), which changes speed only, never the figures.

Exit codes: 0 pass, 1 an invariant failed (seed printed), 2 usage error.
)";

/// Re-executes this binary with malloc on transparent huge pages (see the
/// usage text); returns only when that is not possible or not wanted.
void reexec_with_huge_pages(char** argv) {
  if (std::getenv("GLIBC_TUNABLES") != nullptr)
    return;
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
  ::execv("/proc/self/exe", argv);
  ::unsetenv("GLIBC_TUNABLES"); // exec failed: run as we are
}

int usage(const std::string& msg) {
  std::cerr << "mycelium-sim: " << msg << "\nTry 'mycelium-sim --help'.\n";
  return 2;
}

/// One seed's outcome: the JSON figures, the human line, and the command
/// that replays it.
struct outcome {
  bool ok = true;
  mycelium::json figures;
  std::string line;
  std::string replay;
};

/// Runs seeds first, first+1, ... and stops at the first failure.
template <class Run>
int run_seeds(uint64_t first, uint64_t seeds, bool as_json, Run run) {
  for (uint64_t k = 0; k < seeds; ++k) {
    auto seed = first + k;
    auto t0 = std::chrono::steady_clock::now();
    auto out = run(seed);
    out.figures["wall_s"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    if (as_json)
      std::cout << out.figures.dump() << std::endl;
    else
      std::cout << out.line << std::endl;
    if (!out.ok) {
      if (!as_json)
        std::cout << "tests: " << k << " passed, 1 failed" << std::endl;
      std::cerr << "mycelium-sim: invariant violated with seed " << seed << ": "
                << out.figures.value("violation", "")
                << "\nreplay: " << out.replay << "\n";
      return 1;
    }
  }
  if (!as_json)
    std::cout << "tests: " << seeds << " passed, 0 failed" << std::endl;
  return 0;
}

/// The spore scenario: our digest protocol and the full-state baseline,
/// same seed, same run.
outcome spores_outcome(mycelium::sim::spore_options o) {
  o.full_state = false;
  auto ours = mycelium::sim::run_spores(o);
  o.full_state = true;
  auto base = mycelium::sim::run_spores(o);
  outcome out;
  out.ok = ours.ok && base.ok;
  double ratio = base.bytes > 0 ? static_cast<double>(ours.bytes) /
                                      static_cast<double>(base.bytes)
                                : 0.0;
  out.figures = {{"scenario", "spores"},
                 {"nodes", o.nodes},
                 {"seed", o.seed},
                 {"churn_per_side", o.churn},
                 {"ok", out.ok},
                 {"rounds", ours.rounds},
                 {"bytes", ours.bytes},
                 {"spores", ours.spores},
                 {"returns_decided", ours.returns},
                 {"section_events", ours.sections},
                 {"baseline_rounds", base.rounds},
                 {"baseline_bytes", base.bytes},
                 {"ratio", ratio}};
  if (!out.ok)
    out.figures["violation"] =
        ours.ok ? "baseline: " + base.violation : ours.violation;
  std::ostringstream line;
  line << "spores nodes=" << o.nodes << " seed=" << o.seed
       << (out.ok ? " ok" : " FAILED") << "  converged after " << ours.rounds
       << " rounds, " << ours.bytes << " bytes; full-state baseline "
       << base.rounds << " rounds, " << base.bytes << " bytes; ratio " << ratio;
  out.line = line.str();
  out.replay = "mycelium-sim --scenario spores --nodes " +
               std::to_string(o.nodes) + " --seed " + std::to_string(o.seed) +
               " --churn " + std::to_string(o.churn) + " --loss " +
               std::to_string(o.loss);
  return out;
}

/// The Global Database scenario.
outcome gdb_outcome(const mycelium::sim::gdb_options& o) {
  auto fig = mycelium::sim::run_gdb(o);
  outcome out;
  out.ok = fig.ok;
  out.figures = {{"scenario", "gdb"},
                 {"nodes", o.nodes},
                 {"seed", o.seed},
                 {"shape", fig.shape},
                 {"ok", fig.ok},
                 {"acked_writes", fig.acked_writes},
                 {"crashes", fig.crashes},
                 {"keys", fig.keys},
                 {"convergence_s", fig.convergence_s},
                 {"messages", fig.messages},
                 {"bytes", fig.bytes}};
  if (!fig.ok)
    out.figures["violation"] = fig.violation;
  std::ostringstream line;
  line << "gdb nodes=" << o.nodes << " seed=" << o.seed
       << " shape=" << fig.shape;
  if (fig.ok)
    line << " ok  " << fig.acked_writes
         << " acknowledged writes, all reflected; byte-identical "
         << fig.convergence_s << " s after the heal, " << fig.messages
         << " messages";
  else
    line << " FAILED  " << fig.violation;
  out.line = line.str();
  std::ostringstream replay;
  replay << "mycelium-sim --scenario gdb --nodes " << o.nodes << " --seed "
         << o.seed << " --shape " << o.shape << " --loss " << o.loss
         << " --duplicate " << o.duplicate << " --delay " << o.min_delay_ms
         << ":" << o.max_delay_ms;
  out.replay = replay.str();
  return out;
}

/// A membership scenario.
outcome swim_outcome(mycelium::sim::options o) {
  auto t0 = std::chrono::steady_clock::now();
  auto fig = mycelium::sim::run(o);
  auto wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  auto node_seconds = fig.simulated_s * static_cast<double>(o.nodes);
  outcome out;
  out.ok = fig.ok;
  out.figures = {
      {"scenario", o.scenario},
      {"nodes", o.nodes},
      {"seed", o.seed},
      {"lifeguard", o.lifeguard},
      {"ok", fig.ok},
      {"simulated_s", fig.simulated_s},
      {"confirmation_s", fig.confirmation_s},
      {"dissemination_99_s", fig.dissemination_99_s},
      {"convergence_s", fig.convergence_s},
      {"false_failures", fig.false_failures},
      {"false_failures_healthy", fig.false_failures_healthy},
      {"suspicions", fig.suspicions},
      {"messages", fig.messages},
      {"dropped", fig.dropped},
      {"node_seconds_per_wall_s", wall > 0 ? node_seconds / wall : 0.0}};
  if (!fig.ok)
    out.figures["violation"] = fig.violation;
  std::ostringstream line;
  line << o.scenario << " nodes=" << o.nodes << " seed=" << o.seed
       << (fig.ok ? " ok" : " FAILED") << "  confirmation "
       << fig.confirmation_s << " s, 99% know after " << fig.dissemination_99_s
       << " s, converged " << fig.convergence_s
       << " s after heal, false failures " << fig.false_failures << " ("
       << fig.false_failures_healthy << " of healthy nodes)"
       << ", " << fig.messages << " messages, "
       << static_cast<int64_t>(wall > 0 ? node_seconds / wall : 0)
       << " node-s/wall-s";
  out.line = line.str();
  std::ostringstream replay;
  replay << "mycelium-sim --nodes " << o.nodes << " --seed " << o.seed
         << " --scenario " << o.scenario << " --loss " << o.loss
         << " --duplicate " << o.duplicate << " --delay " << o.min_delay_ms
         << ":" << o.max_delay_ms << " --slow " << o.slow_fraction
         << (o.lifeguard ? "" : " --lifeguard off");
  out.replay = replay.str();
  return out;
}

} // namespace

int main(int argc, char** argv) {
  reexec_with_huge_pages(argv);
  mycelium::sim::options opts;
  mycelium::sim::spore_options spore_opts;
  bool as_json = false;
  uint64_t seeds = 1;
  std::string shape = "any";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      return i + 1 < argc ? argv[++i] : std::string{};
    };
    try {
      if (arg == "--help" || arg == "-h") {
        std::cout << usage_text;
        return 0;
      } else if (arg == "--nodes") {
        opts.nodes = std::stoul(value());
      } else if (arg == "--seed") {
        opts.seed = std::stoull(value());
      } else if (arg == "--seeds") {
        seeds = std::stoull(value());
      } else if (arg == "--json") {
        as_json = true;
      } else if (arg == "--scenario") {
        opts.scenario = value();
      } else if (arg == "--loss") {
        opts.loss = std::stod(value());
      } else if (arg == "--duplicate") {
        opts.duplicate = std::stod(value());
      } else if (arg == "--delay") {
        auto v = value();
        auto colon = v.find(':');
        opts.min_delay_ms = std::stoll(v.substr(0, colon));
        opts.max_delay_ms = std::stoll(v.substr(colon + 1));
      } else if (arg == "--slow") {
        opts.slow_fraction = std::stod(value());
      } else if (arg == "--shape") {
        shape = value();
      } else if (arg == "--churn") {
        spore_opts.churn = std::stoul(value());
      } else if (arg == "--lifeguard") {
        opts.lifeguard = value() != "off";
      } else if (arg == "--profile") {
        if (value() == "local")
          opts.membership = mycelium::config::membership_config::local();
      } else {
        return usage("unknown argument '" + arg + "'");
      }
    } catch (const std::exception&) {
      return usage("bad value for " + arg);
    }
  }
  if (opts.nodes < 3)
    return usage("--nodes must be at least 3");
  if (opts.scenario == "spores") {
    spore_opts.nodes = opts.nodes;
    spore_opts.loss = opts.loss;
    return run_seeds(opts.seed, seeds, as_json, [&](uint64_t seed) {
      spore_opts.seed = seed;
      return spores_outcome(spore_opts);
    });
  }
  if (opts.scenario == "gdb") {
    mycelium::sim::gdb_options g;
    g.nodes = opts.nodes;
    g.shape = shape;
    g.loss = opts.loss;
    g.duplicate = opts.duplicate;
    g.min_delay_ms = opts.min_delay_ms;
    g.max_delay_ms = opts.max_delay_ms;
    return run_seeds(opts.seed, seeds, as_json, [&](uint64_t seed) {
      g.seed = seed;
      return gdb_outcome(g);
    });
  }
  return run_seeds(opts.seed, seeds, as_json, [&](uint64_t seed) {
    opts.seed = seed;
    return swim_outcome(opts);
  });
}
