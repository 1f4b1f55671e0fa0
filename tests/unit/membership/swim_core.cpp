#include "mycelium/membership/swim_core.hpp"
#include "mycelium/sim/swim_sim.hpp"

#include <doctest/doctest.h>

using namespace mycelium;
using namespace mycelium::membership;
using namespace std::chrono_literals;

namespace {

update self_of(const std::string& id, uint64_t incarnation = 0) {
  return {id, id + ":1", id, incarnation, state::alive};
}

config::membership_config cfg() {
  return config::membership_config::defaults();
}

/// Delivers every send of `fx` from `from` among `nodes` (no loss, no delay)
/// until quiet.
void deliver(std::map<std::string, swim_core*>& nodes, const std::string& from,
             effects fx, time_point now) {
  std::vector<std::pair<std::string, outgoing>> work;
  for (auto& o : fx.sends)
    work.emplace_back(from, std::move(o));
  for (size_t i = 0; i < work.size() && i < 10000; ++i) {
    auto [src, out] = work[i];
    auto it = nodes.find(out.to);
    if (it == nodes.end())
      continue;
    auto next = it->second->on_message(src, out.msg, now);
    for (auto& o : next.sends)
      work.emplace_back(out.to, std::move(o));
  }
}

} // namespace

TEST_CASE("nodes join through a contact and learn each other") {
  swim_core a{cfg(), self_of("a"), 1};
  swim_core b{cfg(), self_of("b"), 2};
  swim_core c{cfg(), self_of("c"), 3};
  std::map<std::string, swim_core*> nodes{{"a", &a}, {"b", &b}, {"c", &c}};
  time_point now{};
  deliver(nodes, "b", b.on_contact("a", "a:1", "a", now), now);
  deliver(nodes, "c", c.on_contact("a", "a:1", "a", now), now);
  for (int i = 0; i < 50; ++i) {
    now += 100ms;
    for (auto& [id, n] : nodes)
      deliver(nodes, id, n->on_tick(now), now);
  }
  for (auto* n : {&a, &b, &c})
    CHECK(n->count(state::alive) == 2);
}

TEST_CASE("a suspected node refutes with a higher incarnation and persists "
          "it") {
  swim_core a{cfg(), self_of("a", 5), 1};
  message m;
  m.kind = message::type::gossip;
  m.updates.push_back({"a", "a:1", "a", 5, state::suspect});
  auto fx = a.on_message("b", m, {});
  REQUIRE(fx.persist_incarnation);
  CHECK(*fx.persist_incarnation == 6);
  CHECK(a.self().incarnation == 6);
  CHECK(a.health_score() == 1); // having to refute lowers our confidence
}

TEST_CASE("a restarted node refutes its old death at once") {
  // It was declared failed at incarnation 3 and restarts with its persisted
  // incarnation 3: the first push-pull it hears makes it refute with 4.
  swim_core a{cfg(), self_of("a", 3), 1};
  message m;
  m.kind = message::type::push_pull_reply;
  m.updates.push_back({"a", "a:1", "a", 3, state::failed});
  m.updates.push_back({"b", "b:1", "b", 0, state::alive});
  auto fx = a.on_message("b", m, {});
  REQUIRE(fx.persist_incarnation);
  CHECK(*fx.persist_incarnation == 4);
}

TEST_CASE("updates follow incarnation and state precedence") {
  swim_core a{cfg(), self_of("a"), 1};
  auto send = [&](uint64_t inc, state st) {
    message m;
    m.kind = message::type::gossip;
    m.updates.push_back({"x", "x:1", "x", inc, st});
    return a.on_message("b", m, {});
  };
  send(1, state::alive);
  send(1, state::suspect);
  CHECK(a.find("x")->info.st == state::suspect);
  send(1, state::alive); // same incarnation cannot refute
  CHECK(a.find("x")->info.st == state::suspect);
  auto fx = send(2, state::alive);
  CHECK(a.find("x")->info.st == state::alive);
  REQUIRE(fx.events.size() == 1);
  CHECK(fx.events[0].what == event::type::recovered);
  send(3, state::left);
  CHECK(a.find("x")->info.st == state::left);
  send(3, state::alive); // not without rejoining
  CHECK(a.find("x")->info.st == state::left);
  fx = send(4, state::alive);
  CHECK(a.find("x")->info.st == state::alive);
  CHECK(fx.events.at(0).what == event::type::joined);
}

TEST_CASE("a silent member is suspected, then declared failed") {
  swim_core a{cfg(), self_of("a"), 1};
  message m;
  m.kind = message::type::gossip;
  m.updates.push_back({"x", "x:1", "x", 0, state::alive});
  a.on_message("b", m, {});
  time_point now{};
  bool suspected = false;
  bool failed = false;
  for (int i = 0; i < 400 && !failed; ++i) {
    now += 50ms;
    for (auto& ev : a.on_tick(now).events) {
      suspected = suspected || ev.what == event::type::suspect;
      failed = failed || ev.what == event::type::failed;
    }
  }
  CHECK(suspected);
  CHECK(failed);
  CHECK(a.health_score() > 0); // no acks, no nacks: less confident
}

TEST_CASE("confirmations from other members shrink the suspicion timeout") {
  // `relayed`: the others only pass on b's accusation instead of making
  // their own; that must count as one accuser, not many.
  auto time_to_fail = [](int confirmations, bool relayed = false) {
    swim_core a{cfg(), self_of("a"), 1};
    message m;
    m.kind = message::type::gossip;
    for (auto id : {"x", "b", "c", "d", "e", "f"})
      m.updates.push_back({id, std::string{id} + ":1", id, 0, state::alive});
    a.on_message("b", m, {});
    time_point now{};
    for (int k = 0; k <= confirmations; ++k) {
      message s;
      s.kind = message::type::gossip;
      auto from = std::string(1, static_cast<char>('b' + k));
      s.updates.push_back(
          {"x", "x:1", "x", 0, state::suspect, relayed ? "b" : from});
      a.on_message(from, s, now);
    }
    while (a.find("x")->info.st != state::failed && now < time_point{} + 60s) {
      now += 10ms;
      // Keep the other members answering so only x's suspicion matters.
      a.on_tick(now);
    }
    return to_ms(now - time_point{});
  };
  auto lonely = time_to_fail(0);
  auto confirmed = time_to_fail(3);
  CHECK(confirmed < lonely);
  CHECK(time_to_fail(3, true) == lonely);
}

TEST_CASE("Lifeguard: slowed members cause far fewer false failures") {
  // The simulator's slow scenario at a size the unit suite affords; the
  // benchmark figure (100 nodes, 4 seeds) is in the README.
  auto healthy_false_failures = [](bool lifeguard) {
    sim::options o;
    o.nodes = 50;
    o.seed = 3;
    o.scenario = "slow";
    o.slow_fraction = 0.1;
    o.lifeguard = lifeguard;
    auto fig = sim::run(o);
    CHECK_MESSAGE(fig.ok, fig.violation);
    return fig.false_failures_healthy;
  };
  auto with = healthy_false_failures(true);
  auto without = healthy_false_failures(false);
  CAPTURE(with);
  CAPTURE(without);
  CHECK(without > 100);
  CHECK(with * 10 < without);
}

TEST_CASE("simulations converge after crashes and partitions") {
  for (auto scenario : {"crash", "partition", "oneway", "leave"}) {
    CAPTURE(scenario);
    sim::options o;
    o.nodes = 30;
    o.seed = 11;
    o.scenario = scenario;
    o.loss = 0.01;
    auto fig = sim::run(o);
    CHECK_MESSAGE(fig.ok, fig.violation);
    CHECK(fig.convergence_s >= 0);
  }
}

TEST_CASE("the same seed replays the same figures") {
  sim::options o;
  o.nodes = 40;
  o.seed = 5;
  o.loss = 0.02;
  auto a = sim::run(o);
  auto b = sim::run(o);
  CHECK(a.messages == b.messages);
  CHECK(a.confirmation_s == b.confirmation_s);
  CHECK(a.dissemination_99_s == b.dissemination_99_s);
  o.seed = 6;
  CHECK(sim::run(o).messages != a.messages);
}
