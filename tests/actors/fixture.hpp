#pragma once

// What every actor test needs: an actor system on CAF's deterministic
// scheduler (no threads, no sleeps; timers fire only when a test advances
// them), a temporary folder with an open database, a fake wall clock, and
// helpers to spawn a supervisor, ask and crash.

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/supervisor.hpp"
#include "mycelium/store/database.hpp"

#include "temp_dir.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <doctest/doctest.h>

#include <optional>

namespace mycelium::test {

using namespace mycelium::actors;
using namespace std::chrono_literals;
using supervision::restart_type;
using supervision::strategy;

struct actor_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::unique_ptr<caf::scoped_actor> self;
  test::temp_dir dir;
  std::shared_ptr<store::database> db;
  int64_t wall = 1'000'000;

  actor_fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = dynamic_cast<caf::scheduler::test_coordinator*>(&sys->scheduler());
    REQUIRE(sched != nullptr);
    self = std::make_unique<caf::scoped_actor>(*sys);
    db = *store::database::open(dir / "test.db");
  }

  ~actor_fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sched->run();
  }

  supervisor_options options(strategy how, std::vector<child_spec> children) {
    supervisor_options opts;
    opts.policy.how = how;
    opts.policy.max_restarts = 3;
    opts.policy.restart_window = 60s;
    opts.policy.backoff_initial = 1s;
    opts.policy.backoff_max = 8s;
    opts.policy.backoff_jitter = 0.0;
    opts.policy.backoff_reset = 30s;
    opts.children = std::move(children);
    opts.boot = "boot-1";
    opts.allow_fault_injection = true;
    opts.shutdown_timeout_ms = 5000;
    opts.wall_clock = [this] { return wall; };
    return opts;
  }

  caf::actor spawn(supervisor_options opts) {
    auto sup = spawn_supervisor(*sys, std::move(opts));
    spawned.push_back(sup);
    (*self)->monitor(sup);
    sched->run();
    return sup;
  }

  /// Sends and runs until idle; returns the single reply.
  template <class T, class... Ts>
  T ask(const caf::actor& dest, Ts&&... xs) {
    (*self)->send(dest, std::forward<Ts>(xs)...);
    sched->run();
    T out{};
    bool got = false;
    (*self)->receive(
        [&](T& x) {
          out = std::move(x);
          got = true;
        },
        [&](caf::error& err) { FAIL_CHECK("error reply: " << describe(err)); },
        caf::after(std::chrono::seconds(0)) >> [&] { FAIL_CHECK("no reply"); });
    CHECK(got);
    return out;
  }

  /// The error a request is refused with.
  template <class... Ts>
  caf::error ask_error(const caf::actor& dest, Ts&&... xs) {
    (*self)->send(dest, std::forward<Ts>(xs)...);
    sched->run();
    caf::error out;
    (*self)->receive([&](caf::error& err) { out = std::move(err); },
                     caf::after(std::chrono::seconds(0)) >>
                         [&] { FAIL_CHECK("no error reply"); });
    return out;
  }

  void crash(const caf::actor& sup, const std::string& path) {
    auto done = ask<std::string>(sup, crash_atom::value, path);
    CHECK(done.find(path) != std::string::npos);
  }

  tree_row row(const caf::actor& sup, const std::string& path) {
    for (auto& r : ask<tree_rows>(sup, tree_atom::value))
      if (r.path == path)
        return r;
    FAIL_CHECK("no row " << path);
    return {};
  }

  /// The reason the supervisor exited with (waits for its down message).
  std::optional<caf::error> exit_of(const caf::actor& sup) {
    std::optional<caf::error> reason;
    (*self)->receive(
        [&](caf::down_msg& msg) {
          if (msg.source == sup.address())
            reason = msg.reason;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    return reason;
  }

  std::vector<caf::actor> spawned;
};

} // namespace mycelium::test
