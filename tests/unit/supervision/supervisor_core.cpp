#include "mycelium/supervision/supervisor_core.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace mycelium;
using namespace mycelium::supervision;
using namespace std::chrono_literals;

namespace {

policy make(strategy how) {
  policy p;
  p.how = how;
  p.max_restarts = 3;
  p.restart_window = 10s;
  p.backoff_initial = 100ms;
  p.backoff_max = 1s;
  p.backoff_jitter = 0.0;
  p.backoff_reset = 5s;
  return p;
}

/// Drives a core like the actor shell does, with a fake clock.
struct harness {
  supervisor_core core;
  time_point now{};
  std::vector<std::string> spawned;
  std::vector<std::string> stopped;
  std::optional<std::string> finished;

  explicit harness(policy p, std::vector<std::pair<std::string, restart_type>>
                                 children = {{"a", restart_type::permanent},
                                             {"b", restart_type::permanent},
                                             {"c", restart_type::permanent}})
      : core(p, 42) {
    for (auto& [id, type] : children)
      core.add_child(id, type);
    run(core.start());
  }

  /// Performs effects; stops complete at once, timers fire at once.
  void run(effects fx) {
    for (auto& id : fx.stop) {
      stopped.push_back(id);
      run(core.on_exit(id, false, "shutdown", now, 0));
    }
    if (fx.start) {
      now += fx.start->delay;
      for (auto& id : core.on_start_due(fx.start->ticket)) {
        spawned.push_back(id);
        core.on_started(id, now);
      }
    }
    if (fx.finished)
      finished = fx.finished;
  }

  effects crash(const std::string& id, bool abnormal = true) {
    return core.on_exit(id, abnormal, "boom", now, 1000);
  }

  child_state state(const std::string& id) { return core.find(id)->state; }

  void clear() {
    spawned.clear();
    stopped.clear();
  }
};

} // namespace

TEST_CASE("start spawns every child in order") {
  harness h{make(strategy::one_for_one)};
  CHECK(h.spawned == std::vector<std::string>{"a", "b", "c"});
  for (auto id : {"a", "b", "c"})
    CHECK(h.state(id) == child_state::running);
}

TEST_CASE("one_for_one restarts only the failed child, at once the first "
          "time") {
  harness h{make(strategy::one_for_one)};
  h.clear();
  auto fx = h.crash("b");
  REQUIRE(fx.start);
  CHECK(fx.start->delay == duration::zero());
  CHECK(fx.stop.empty());
  REQUIRE(fx.records.size() == 1);
  CHECK(fx.records[0].child == "b");
  CHECK(fx.records[0].reason == "boom");
  CHECK(fx.records[0].count == 1);
  CHECK(fx.records[0].time == 1000);
  h.run(fx);
  CHECK(h.spawned == std::vector<std::string>{"b"});
  CHECK(h.core.find("b")->restarts == 1);
  CHECK(h.core.find("b")->last_reason == "boom");
  CHECK(h.core.find("a")->restarts == 0);
}

TEST_CASE("one_for_all stops the others in reverse order and restarts all") {
  harness h{make(strategy::one_for_all)};
  h.clear();
  h.run(h.crash("b"));
  CHECK(h.stopped == std::vector<std::string>{"c", "a"});
  CHECK(h.spawned == std::vector<std::string>{"a", "b", "c"});
  CHECK(h.core.find("b")->restarts == 1);
}

TEST_CASE("rest_for_one restarts the failed child and those started after") {
  harness h{make(strategy::rest_for_one)};
  h.clear();
  h.run(h.crash("b"));
  CHECK(h.stopped == std::vector<std::string>{"c"});
  CHECK(h.spawned == std::vector<std::string>{"b", "c"});
  CHECK(h.state("a") == child_state::running);
}

TEST_CASE("a permanent child restarts even after a normal exit") {
  harness h{make(strategy::one_for_one)};
  h.clear();
  h.run(h.crash("a", false));
  CHECK(h.spawned == std::vector<std::string>{"a"});
}

TEST_CASE("a transient child restarts only after an abnormal exit") {
  harness h{make(strategy::one_for_one), {{"t", restart_type::transient}}};
  h.clear();
  h.run(h.crash("t", true));
  CHECK(h.spawned == std::vector<std::string>{"t"});
  h.clear();
  auto fx = h.crash("t", false);
  CHECK_FALSE(fx.start);
  CHECK(fx.records.empty());
  CHECK(h.state("t") == child_state::stopped);
}

TEST_CASE("a temporary child is never restarted") {
  harness h{make(strategy::one_for_one), {{"x", restart_type::temporary}}};
  h.clear();
  auto fx = h.crash("x", true);
  CHECK_FALSE(fx.start);
  CHECK(h.state("x") == child_state::stopped);
}

TEST_CASE("a temporary sibling is stopped, not restarted, by a group "
          "restart") {
  harness h{make(strategy::one_for_all),
            {{"a", restart_type::permanent},
             {"tmp", restart_type::temporary},
             {"t", restart_type::transient}}};
  h.clear();
  h.run(h.crash("a"));
  CHECK(h.stopped == std::vector<std::string>{"t", "tmp"});
  CHECK(h.spawned == std::vector<std::string>{"a", "t"});
  CHECK(h.state("tmp") == child_state::stopped);
}

TEST_CASE("backoff grows while failures repeat and is capped") {
  std::vector<int64_t> delays;
  auto p = make(strategy::one_for_one);
  p.max_restarts = 100;
  harness g{p, {{"a", restart_type::permanent}}};
  for (int i = 0; i < 7; ++i) {
    auto fx = g.crash("a");
    REQUIRE(fx.start);
    delays.push_back(to_ms(fx.start->delay));
    g.run(fx);
  }
  CHECK(delays == std::vector<int64_t>{0, 100, 200, 400, 800, 1000, 1000});
}

TEST_CASE("a quiet period resets the backoff to an immediate restart") {
  auto p = make(strategy::one_for_one);
  p.max_restarts = 100;
  harness h{p, {{"a", restart_type::permanent}}};
  h.run(h.crash("a"));
  auto second = h.crash("a");
  CHECK(to_ms(second.start->delay) == 100);
  h.run(second);
  h.now += 6s; // longer than backoff_reset without failing
  auto after_quiet = h.crash("a");
  REQUIRE(after_quiet.start);
  CHECK(after_quiet.start->delay == duration::zero());
}

TEST_CASE("jitter stays within its bounds and varies") {
  auto p = make(strategy::one_for_one);
  p.max_restarts = 1000;
  p.restart_window = 1ms;
  p.backoff_jitter = 0.5;
  p.backoff_max = 1h;
  harness h{p, {{"a", restart_type::permanent}}};
  h.run(h.crash("a")); // immediate
  std::set<int64_t> seen;
  for (int i = 0; i < 50; ++i) {
    auto fx = h.crash("a");
    auto ms = to_ms(fx.start->delay);
    CHECK(ms >= 50);
    CHECK(ms <= 150);
    seen.insert(ms);
    // Stay at the second step: reset by a quiet period each time.
    h.core.on_start_due(fx.start->ticket);
    h.core.on_started("a", h.now);
    h.now += 10s;
    h.run(h.crash("a"));
  }
  CHECK(seen.size() > 5);
}

TEST_CASE("exceeding the restart intensity stops all children and gives up") {
  harness h{make(strategy::one_for_one)};
  for (int i = 0; i < 3; ++i) {
    auto fx = h.crash("a");
    REQUIRE_FALSE(fx.escalated);
    h.run(fx);
  }
  h.clear();
  auto fx = h.crash("a");
  CHECK(fx.escalated);
  h.run(fx);
  CHECK(h.stopped == std::vector<std::string>{"c", "b"});
  REQUIRE(h.finished);
  CHECK(h.finished->find("restart intensity exceeded") != std::string::npos);
  CHECK(h.state("a") == child_state::failed);
  CHECK(h.core.stopping());
}

TEST_CASE("restarts outside the window do not count toward intensity") {
  harness h{make(strategy::one_for_one)};
  for (int i = 0; i < 10; ++i) {
    auto fx = h.crash("a");
    REQUIRE_FALSE(fx.escalated);
    h.run(fx);
    h.now += 4s; // 3 per 10 s allowed; one every 4 s stays under
  }
  CHECK(h.core.find("a")->restarts == 10);
}

TEST_CASE("shutdown stops children one at a time in reverse start order") {
  harness h{make(strategy::one_for_one)};
  h.clear();
  auto fx = h.core.shutdown();
  REQUIRE(fx.stop == std::vector<std::string>{"c"}); // one at a time
  h.run(fx);
  CHECK(h.stopped == std::vector<std::string>{"c", "b", "a"});
  REQUIRE(h.finished);
  CHECK(h.finished->empty());
  CHECK(h.spawned.empty());
}

TEST_CASE("shutdown cancels a restart that waits for its backoff") {
  harness h{make(strategy::one_for_one)};
  h.run(h.crash("a"));
  auto fx = h.crash("a"); // second failure: delayed restart
  REQUIRE(fx.start);
  REQUIRE(fx.start->delay > duration::zero());
  auto ticket = fx.start->ticket;
  h.run(h.core.shutdown());
  CHECK(h.core.on_start_due(ticket).empty());
  CHECK(h.state("a") == child_state::stopped);
}

TEST_CASE("a sibling crashing while its group is stopped is not counted "
          "twice") {
  harness h{make(strategy::one_for_all)};
  auto fx = h.crash("a");
  REQUIRE(fx.stop == std::vector<std::string>{"c"});
  // b crashes on its own before the supervisor gets to stop it.
  auto during = h.core.on_exit("b", true, "late", h.now, 0);
  CHECK(during.records.empty());
  h.clear();
  h.run(h.core.on_exit("c", false, "shutdown", h.now, 0));
  CHECK(h.spawned == std::vector<std::string>{"a", "b", "c"});
  CHECK(h.core.find("b")->restarts == 0);
  CHECK(h.core.find("a")->restarts == 1);
}

TEST_CASE("strategy and restart type names round-trip") {
  for (auto s :
       {strategy::one_for_one, strategy::one_for_all, strategy::rest_for_one}) {
    strategy out;
    REQUIRE(from_string(to_string(s), out));
    CHECK(out == s);
  }
  restart_type r;
  CHECK_FALSE(from_string("sometimes", r));
}
