// Supervision under CAF's deterministic scheduler: no threads, no sleeps.
// Timers (backoff, stop timeouts) fire only when a test advances the clock.

#include "mycelium/actors/supervisor.hpp"
#include "mycelium/actors/health_monitor.hpp"
#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/node.hpp"
#include "mycelium/health/health_store.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/store/state_store.hpp"

#include "fixture.hpp"
#include "temp_dir.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <doctest/doctest.h>

#include <fstream>
#include <map>

using namespace mycelium;
using namespace mycelium::actors;
using namespace std::chrono_literals;
using supervision::restart_type;
using supervision::strategy;

namespace {

using add_atom = caf::atom_constant<caf::atom("add")>;
using stubborn_atom = caf::atom_constant<caf::atom("stubborn")>;

/// What the test children report about themselves.
struct journal {
  /// Starts per child id (each start is a fresh incarnation).
  std::map<std::string, int> starts;
  /// Child ids in the order they terminated.
  std::vector<std::string> stops;
  /// First value each incarnation saw when it loaded its state.
  std::map<std::string, std::vector<int64_t>> loaded;
};

struct counter_state {
  static constexpr const char* name = "counter";
  int64_t value = 0;
};

/// A child that keeps a counter in the state store: it loads the counter
/// before handling any message and saves it before acknowledging an add.
caf::behavior counter(caf::stateful_actor<counter_state>* self, std::string id,
                      std::shared_ptr<store::state_store> states,
                      std::shared_ptr<journal> log) {
  keep_exception_text(self);
  ++log->starts[id];
  self->attach_functor([=] { log->stops.push_back(id); });
  auto saved = states->load("counter", id);
  REQUIRE(saved);
  if (saved->has_value())
    self->state.value = std::stoll((*saved)->value);
  log->loaded[id].push_back(self->state.value);
  return {
      [=](add_atom, int64_t n) {
        self->state.value += n;
        REQUIRE(states->save("counter", id, std::to_string(self->state.value)));
        return self->state.value;
      },
      [=](stubborn_atom) {
        // Ignore exit requests: the supervisor must kill us after a timeout.
        self->set_exit_handler([](caf::exit_msg&) {});
      },
  };
}

struct fixture : test::actor_fixture {
  std::shared_ptr<store::state_store> states =
      std::make_shared<store::state_store>(*store::state_store::open(db));
  std::shared_ptr<journal> log = std::make_shared<journal>();

  child_spec counter_child(std::string id,
                           restart_type type = restart_type::permanent) {
    child_spec spec;
    spec.id = id;
    spec.restart = type;
    auto st = states;
    auto lg = log;
    spec.start = [id, st, lg](caf::event_based_actor* sup) {
      return sup->spawn<caf::linked>(counter, id, st, lg);
    };
    return spec;
  }
};

} // namespace

TEST_CASE_FIXTURE(fixture, "one_for_one restarts only the crashed child") {
  auto sup = spawn(
      options(strategy::one_for_one,
              {counter_child("a"), counter_child("b"), counter_child("c")}));
  crash(sup, "b");
  CHECK(log->starts ==
        std::map<std::string, int>{{"a", 1}, {"b", 2}, {"c", 1}});
  auto b = row(sup, "node/b");
  CHECK(b.state == "running");
  CHECK(b.restarts == 1);
  CHECK(b.last_reason.find("fault_injected") != std::string::npos);
  CHECK(b.last_failure_ms == wall);
  CHECK(row(sup, "node/a").restarts == 0);
}

TEST_CASE_FIXTURE(fixture, "a restarted child reloads its persisted state "
                           "before its first message") {
  auto sup = spawn(options(strategy::one_for_one, {counter_child("a")}));
  REQUIRE(states->save("counter", "a", "41"));
  crash(sup, "a");
  // The new incarnation loaded 41 before it could receive anything.
  REQUIRE(log->loaded["a"].size() == 2);
  CHECK(log->loaded["a"][0] == 0);
  CHECK(log->loaded["a"][1] == 41);
}

TEST_CASE_FIXTURE(fixture, "acknowledged work survives a crash of the child") {
  // A supervisor whose child registers itself so the test can talk to it.
  auto handle = std::make_shared<caf::actor>();
  child_spec spec = counter_child("a");
  auto inner = spec.start;
  spec.start = [inner, handle](caf::event_based_actor* sup) {
    *handle = inner(sup);
    return *handle;
  };
  auto sup = spawn(options(strategy::one_for_one, {spec}));
  CHECK(ask<int64_t>(*handle, add_atom::value, int64_t{5}) == 5);
  CHECK(ask<int64_t>(*handle, add_atom::value, int64_t{2}) == 7);
  auto before = *handle;
  crash(sup, "a");
  REQUIRE(*handle != before);
  CHECK(ask<int64_t>(*handle, add_atom::value, int64_t{1}) == 8);
}

TEST_CASE_FIXTURE(fixture, "one_for_all restarts every child, stopping the "
                           "others in reverse order") {
  auto sup = spawn(
      options(strategy::one_for_all,
              {counter_child("a"), counter_child("b"), counter_child("c")}));
  crash(sup, "b");
  CHECK(log->stops == std::vector<std::string>{"b", "c", "a"});
  CHECK(log->starts ==
        std::map<std::string, int>{{"a", 2}, {"b", 2}, {"c", 2}});
  CHECK(row(sup, "node/b").restarts == 1);
}

TEST_CASE_FIXTURE(fixture, "rest_for_one restarts the crashed child and "
                           "those started after it") {
  auto sup = spawn(
      options(strategy::rest_for_one,
              {counter_child("a"), counter_child("b"), counter_child("c")}));
  crash(sup, "b");
  CHECK(log->starts ==
        std::map<std::string, int>{{"a", 1}, {"b", 2}, {"c", 2}});
}

TEST_CASE_FIXTURE(fixture, "transient and temporary children follow their "
                           "restart types") {
  auto sup = spawn(options(strategy::one_for_one,
                           {counter_child("t", restart_type::transient),
                            counter_child("tmp", restart_type::temporary)}));
  crash(sup, "t"); // abnormal: restarted
  CHECK(log->starts["t"] == 2);
  crash(sup, "tmp"); // temporary: never restarted
  CHECK(log->starts["tmp"] == 1);
  CHECK(row(sup, "node/tmp").state == "stopped");
}

TEST_CASE_FIXTURE(fixture, "repeated failures back off until the timer "
                           "fires") {
  auto sup = spawn(options(strategy::one_for_one, {counter_child("a")}));
  crash(sup, "a");
  CHECK(log->starts["a"] == 2); // first restart is immediate
  crash(sup, "a");
  CHECK(log->starts["a"] == 2); // second waits for its 1 s backoff
  CHECK(row(sup, "node/a").state == "restarting");
  sched->advance_time(999ms);
  sched->run();
  CHECK(log->starts["a"] == 2);
  sched->advance_time(1ms);
  sched->run();
  CHECK(log->starts["a"] == 3);
  CHECK(row(sup, "node/a").state == "running");
}

TEST_CASE_FIXTURE(fixture, "exceeding the restart intensity stops the "
                           "children and fails the supervisor") {
  auto sup = spawn(
      options(strategy::one_for_one, {counter_child("a"), counter_child("b")}));
  for (int i = 0; i < 3; ++i) {
    crash(sup, "a");
    sched->trigger_timeouts();
    sched->run();
  }
  CHECK(log->starts["a"] == 4);
  log->stops.clear();
  crash(sup, "a");
  CHECK(log->stops == std::vector<std::string>{"a", "b"});
  auto reason = exit_of(sup);
  REQUIRE(reason);
  CHECK(reason->category() == error_category);
  CHECK(describe(*reason).find("restart intensity exceeded") !=
        std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "shutdown stops children in reverse start order "
                           "and exits normally") {
  auto sup = spawn(
      options(strategy::one_for_one,
              {counter_child("a"), counter_child("b"), counter_child("c")}));
  (*self)->send(sup, shutdown_atom::value);
  sched->run();
  CHECK(log->stops == std::vector<std::string>{"c", "b", "a"});
  auto reason = exit_of(sup);
  REQUIRE(reason);
  CHECK_FALSE(*reason);
}

TEST_CASE_FIXTURE(fixture, "a child that ignores the stop request is killed "
                           "after the shutdown timeout") {
  auto handle = std::make_shared<caf::actor>();
  child_spec spec = counter_child("a");
  auto inner = spec.start;
  spec.start = [inner, handle](caf::event_based_actor* sup) {
    *handle = inner(sup);
    return *handle;
  };
  auto sup = spawn(options(strategy::one_for_one, {spec}));
  (*self)->send(*handle, stubborn_atom::value);
  sched->run();
  (*self)->send(sup, shutdown_atom::value);
  sched->run();
  CHECK(log->stops.empty());
  sched->advance_time(5s);
  sched->run();
  CHECK(log->stops == std::vector<std::string>{"a"});
  auto reason = exit_of(sup);
  REQUIRE(reason);
  CHECK_FALSE(*reason);
}

TEST_CASE_FIXTURE(fixture, "nested supervisors restart locally and escalate "
                           "to their parent") {
  auto inner = options(strategy::one_for_one, {counter_child("x")});
  inner.policy.max_restarts = 1;
  auto sup =
      spawn(options(strategy::one_for_one,
                    {counter_child("a"), supervisor_child("sub", inner)}));
  auto batch =
      ask<event_batch>(sup, subscribe_atom::value, std::string{}, uint64_t{0});
  CHECK(batch.boot == "boot-1");
  CHECK(batch.events.size() == 3); // a, sub, sub/x started
  crash(sup, "sub/x");
  CHECK(log->starts["x"] == 2);
  CHECK(row(sup, "node/sub/x").restarts == 1);
  CHECK(row(sup, "node/sub").restarts == 0);
  // The subscriber saw the nested restart with its full path, in order.
  std::vector<std::string> seen;
  for (int i = 0; i < 2; ++i)
    (*self)->receive(
        [&](event_atom, health::supervision_event& ev) {
          seen.push_back(ev.component + " " + ev.kind + " #" +
                         std::to_string(ev.seq));
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(seen == std::vector<std::string>{"node/sub/x restarted #4",
                                         "node/sub/x started #5"});
  // A second crash inside the window exceeds sub's intensity: sub fails to
  // the root, which restarts the whole subtree.
  (*self)->send(sup, crash_atom::value, std::string{"sub/x"});
  sched->run();
  sched->trigger_timeouts();
  sched->run();
  CHECK(log->starts["x"] == 3);
  CHECK(row(sup, "node/sub").restarts == 1);
  CHECK(row(sup, "node/sub").last_reason.find("restart intensity") !=
        std::string::npos);
  CHECK(log->starts["a"] == 1);
}

TEST_CASE_FIXTURE(fixture, "a late subscriber catches up from its cursor") {
  auto sup = spawn(options(strategy::one_for_one, {counter_child("a")}));
  crash(sup, "a");
  auto all = ask<event_batch>(sup, subscribe_atom::value, std::string{"boot-1"},
                              uint64_t{0});
  REQUIRE(all.events.size() == 3);
  auto since = ask<event_batch>(sup, subscribe_atom::value,
                                std::string{"boot-1"}, uint64_t{2});
  REQUIRE(since.events.size() == 1);
  CHECK(since.events[0].kind == "started");
  auto other_boot = ask<event_batch>(sup, subscribe_atom::value,
                                     std::string{"boot-0"}, uint64_t{2});
  CHECK(other_boot.events.size() == 3);
}

TEST_CASE_FIXTURE(fixture, "crash injection is refused unless enabled") {
  auto opts = options(strategy::one_for_one, {counter_child("a")});
  opts.allow_fault_injection = false;
  auto sup = spawn(opts);
  auto err = ask_error(sup, crash_atom::value, std::string{"a"});
  CHECK(describe(err).find("fault injection is disabled") != std::string::npos);
  CHECK(log->starts["a"] == 1);
  auto sup2 = spawn(options(strategy::one_for_one, {counter_child("a")}));
  auto missing = ask_error(sup2, crash_atom::value, std::string{"zz"});
  CHECK(describe(missing).find("no running actor node/zz") !=
        std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "the health monitor counts its own restart and "
                           "keeps its history") {
  auto ctx = std::make_shared<node_context>();
  ctx->cfg.name = "n1";
  ctx->cfg.data_dir = dir.path();
  ctx->cfg.allow_fault_injection = true;
  ctx->db = db;
  ctx->boot = "boot-h";
  ctx->wall_clock = [this] { return wall; };
  auto opts = options(strategy::one_for_one, {health_monitor_child(ctx)});
  opts.boot = ctx->boot;
  auto node = spawn(opts);
  auto first = json::parse(
      ask<std::string>(node, status_atom::value, std::string{"health"}));
  CHECK(first["components"][0]["path"] == "node/health");
  CHECK(first["samples_recorded"] == 1);
  wall += 1000;
  crash(node, "health");
  auto second = json::parse(
      ask<std::string>(node, status_atom::value, std::string{"health"}));
  CHECK(second["components"][0]["restarts"] == 1);
  CHECK(second["components"][0]["state"] == "running");
  // The first sample was persisted and reloaded, and a new one was taken.
  CHECK(second["samples_recorded"] == 2);
  // The status file on disk says the same.
  std::ifstream in{status_file_path(dir.path())};
  auto on_disk = json::parse(in);
  CHECK(on_disk["components"][0]["restarts"] == 1);
}

TEST_CASE_FIXTURE(fixture, "after a node restart no component reads as down "
                           "from the previous boot's stored state") {
  // The previous boot ended with the monitor stopped, as a shutdown leaves it.
  {
    auto hs = *health::health_store::open(db);
    health::monitor_core core(10);
    health::supervision_event ev;
    ev.seq = 1;
    ev.component = "node/health";
    ev.kind = "stopped";
    REQUIRE(hs.apply("boot-0", ev, core.on_event(ev), 100));
  }
  auto ctx = std::make_shared<node_context>();
  ctx->cfg.name = "n1";
  ctx->cfg.data_dir = dir.path();
  ctx->db = db;
  ctx->boot = "boot-1";
  ctx->wall_clock = [this] { return wall; };
  auto opts = options(strategy::one_for_one, {health_monitor_child(ctx)});
  opts.boot = ctx->boot;
  spawned.push_back(spawn_supervisor(*sys, std::move(opts)));
  // Step by step: an alert rule evaluated at any moment must not see 0.
  auto gauge = [&]() -> std::optional<double> {
    for (auto& s : ctx->metrics->samples())
      if (s.name == "mycelium_component_running" &&
          metrics::labels_match(s.labels, {{"component", "node/health"}}))
        return s.value;
    return std::nullopt;
  };
  size_t steps = 0;
  while (sched->try_run_once()) {
    ++steps;
    auto v = gauge();
    CHECK_MESSAGE((!v || *v == 1.0), "gauge 0 after step " << steps);
  }
  CHECK(gauge() == std::optional<double>{1.0});
}
