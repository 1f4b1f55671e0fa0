#include "mycelium/core/prng.hpp"
#include "mycelium/spores/codec.hpp"
#include "mycelium/spores/tracker_core.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <memory>

using namespace mycelium;
using namespace mycelium::spores;

namespace {

hlc_stamp random_stamp(prng& rng) {
  return {static_cast<int64_t>(rng.next_below(5000)),
          static_cast<uint32_t>(rng.next_below(3))};
}

/// A random spore of node `id`; small value pools so that merges meet
/// equal incarnations, equal windows and overlapping ranges often.
latent_spore random_spore(prng& rng, const std::string& id) {
  latent_spore s;
  s.node_id = id;
  s.pointer.incarnation = rng.next_below(3);
  auto addresses = rng.next_below(3);
  for (uint64_t i = 0; i < addresses; ++i)
    s.pointer.addresses.push_back("10.0.0." +
                                  std::to_string(rng.next_below(4)) + ":7000");
  s.pointer.name = "n" + std::to_string(rng.next_below(3));
  s.pointer.stamp = random_stamp(rng);
  s.first_seen_ms = static_cast<int64_t>(rng.next_below(4)) * 1000;
  std::vector<slot_range> ranges;
  auto n = rng.next_below(4);
  for (uint64_t i = 0; i < n; ++i) {
    auto first = static_cast<int64_t>(rng.next_below(40));
    ranges.push_back({first, first + static_cast<int64_t>(rng.next_below(6))});
  }
  s.activity = normalise(ranges);
  s.summary = {rng.next_below(3) * 100, rng.next_below(3), random_stamp(rng)};
  return s;
}

master_spore random_master(prng& rng) {
  master_spore m;
  m.network_id = "net";
  m.protocol_min = 1;
  m.protocol_max = 1 + static_cast<uint32_t>(rng.next_below(2));
  m.seeds = {"s" + std::to_string(rng.next_below(3))};
  m.epoch = rng.next_below(2);
  m.settings_digest = std::to_string(rng.next_below(3));
  m.stamp = random_stamp(rng);
  return m;
}

template <class T>
T merged(T a, const T& b, const merge_rules& rules) {
  merge(a, b, rules);
  return a;
}

} // namespace

TEST_CASE("spore merge is commutative, associative and idempotent") {
  prng rng{42};
  for (auto tolerance : {0, 1000}) {
    merge_rules rules{tolerance};
    for (int i = 0; i < 3000; ++i) {
      auto a = random_spore(rng, "x");
      auto b = random_spore(rng, "x");
      auto c = random_spore(rng, "x");
      CHECK(merged(a, b, rules) == merged(b, a, rules));
      CHECK(merged(merged(a, b, rules), c, rules) ==
            merged(a, merged(b, c, rules), rules));
      CHECK(merged(a, a, rules) == a);
      CHECK(merged(merged(a, b, rules), b, rules) == merged(a, b, rules));
      auto ma = random_master(rng);
      auto mb = random_master(rng);
      auto mc = random_master(rng);
      CHECK(merged(ma, mb, rules) == merged(mb, ma, rules));
      CHECK(merged(merged(ma, mb, rules), mc, rules) ==
            merged(ma, merged(mb, mc, rules), rules));
      CHECK(merged(ma, ma, rules) == ma);
    }
  }
}

TEST_CASE("spore sets merge in any order to the same set") {
  prng rng{7};
  merge_rules rules;
  for (int i = 0; i < 300; ++i) {
    std::vector<spore_set> sets(3);
    for (auto& set : sets)
      for (auto id : {"a", "b", "c", "d"})
        if (rng.next_below(2) == 0)
          set[id] = random_spore(rng, id);
    auto abc = sets[0];
    merge(abc, sets[1], rules);
    merge(abc, sets[2], rules);
    auto cba = sets[2];
    merge(cba, sets[1], rules);
    merge(cba, sets[0], rules);
    CHECK(abc == cba);
  }
}

TEST_CASE("writes within the tolerance are settled by content, not clock") {
  merge_rules rules{1000};
  latent_spore a;
  a.node_id = "x";
  a.pointer = {{"10.0.0.1:1"}, "x", 1, {100, 0}};
  auto b = a;
  b.pointer.addresses = {"10.0.0.2:1"};
  b.pointer.stamp = {900, 0};
  auto winner = merged(a, b, rules).pointer.addresses;
  // Swap whose clock was ahead: the same content wins.
  std::swap(a.pointer.stamp, b.pointer.stamp);
  CHECK(merged(a, b, rules).pointer.addresses == winner);
  CHECK(merged(b, a, rules).pointer.addresses == winner);
  // Outside the tolerance the later write wins.
  a.pointer.stamp = {100, 0};
  b.pointer.stamp = {5000, 0};
  CHECK(merged(a, b, rules).pointer.addresses ==
        std::vector<std::string>{"10.0.0.2:1"});
  // A higher incarnation wins whatever the stamps.
  a.pointer.incarnation = 2;
  CHECK(merged(a, b, rules).pointer.addresses ==
        std::vector<std::string>{"10.0.0.1:1"});
}

TEST_CASE("the hybrid logical clock is monotonic and bounds drift") {
  hlc clock{1000};
  auto a = clock.now(5000);
  auto b = clock.now(5000);
  CHECK(a < b);
  auto c = clock.now(4000); // the wall clock stepped back
  CHECK(b < c);
  CHECK(clock.observe({5500, 3}, 5000));
  CHECK(hlc_stamp{5500, 3} < clock.now(5000));
  auto before = clock.last();
  CHECK_FALSE(clock.observe({9000, 0}, 5000)); // 4 s ahead: refused
  CHECK(clock.last() == before);
}

TEST_CASE("activity slots normalise and decide how to rejoin") {
  std::vector<slot_range> r;
  CHECK(add_slot(r, 5));
  CHECK(add_slot(r, 6));
  CHECK_FALSE(add_slot(r, 6));
  CHECK(add_slot(r, 2));
  CHECK(add_slot(r, 3));
  CHECK(add_slot(r, 4));
  REQUIRE(r.size() == 1);
  CHECK(r[0].first == 2);
  CHECK(r[0].last == 6);
  auto ps = periods(r, 1000);
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].start_ms == 2000);
  CHECK(ps[0].end_ms == 7000);
  // Apart since slot 10: both active in 12..14 -> sync required.
  std::vector<slot_range> ours{{0, 20}};
  CHECK(decide_rejoin({{0, 9}, {12, 14}}, ours, 10, 18) ==
        rejoin::sync_required);
  // They were offline the whole time -> independent (fast path); being
  // active again from the slot they came back in does not count.
  CHECK(decide_rejoin({{0, 9}}, ours, 10, 18) == rejoin::independent);
  CHECK(decide_rejoin({{0, 9}, {18, 22}}, ours, 10, 18) == rejoin::independent);
}

TEST_CASE("spores and sync messages round-trip; bad bytes are refused") {
  prng rng{3};
  sync_message m;
  m.kind = sync_message::type::reply;
  m.buckets = 8;
  m.hashes = {1, 2, 3};
  m.differing = {0, 5};
  m.master_digest = 99;
  m.spores = {random_spore(rng, "a"), random_spore(rng, "b")};
  m.master = random_master(rng);
  auto back = decode(encode(m));
  REQUIRE(back);
  CHECK(back->kind == m.kind);
  CHECK(back->hashes == m.hashes);
  CHECK(back->differing == m.differing);
  REQUIRE(back->spores.size() == 2);
  CHECK(back->spores[0] == m.spores[0]);
  CHECK(back->spores[1] == m.spores[1]);
  REQUIRE(back->master);
  CHECK(*back->master == *m.master);
  auto s = decode_spore(encode_spore(m.spores[0]));
  REQUIRE(s);
  CHECK(*s == m.spores[0]);
  CHECK(!decode("garbage"));
  CHECK(!decode_spore(""));
  auto bad = m.spores[0];
  bad.activity = {{5, 9}, {1, 2}}; // not canonical
  auto refused = decode_spore(encode_spore(bad));
  REQUIRE(!refused);
  CHECK(refused.err().to_string().find("activity") != std::string::npos);
  auto bytes = encode(m);
  CHECK(!decode(std::string_view{bytes}.substr(0, bytes.size() - 9)));
}

namespace {

/// Tracker cores on an instant in-memory network with partitions.
struct cluster {
  tracker_config cfg;
  std::map<std::string, std::unique_ptr<tracker_core>> nodes;
  std::map<std::string, int> side;
  std::deque<std::tuple<std::string, std::string, sync_message>> queue;
  std::map<std::string, std::vector<tracker_event>> events;
  int64_t wall = 1000000;

  cluster() {
    cfg.slot_ms = 1000;
    cfg.sync_interval_ms = 200;
    cfg.buckets = 16;
  }

  void add(const std::string& id, int s = 0) {
    latent_spore self;
    self.node_id = id;
    self.pointer = {{id + ":1"}, id, 0, {}};
    master_spore m;
    m.network_id = "net";
    nodes[id] =
        std::make_unique<tracker_core>(cfg, self, m, nodes.size() + 1, wall);
    side[id] = s;
  }

  bool reachable(const std::string& a, const std::string& b) {
    return side[a] == side[b];
  }

  void perform(const std::string& from, tracker_effects fx) {
    for (auto& e : fx.events)
      events[from].push_back(e);
    for (auto& [to, msg] : fx.sends)
      queue.emplace_back(from, to, std::move(msg));
  }

  /// Membership as each node would see it: reachable nodes alive, the
  /// others gone.
  void membership() {
    for (auto& [a, na] : nodes)
      for (auto& [b, nb] : nodes) {
        if (a == b)
          continue;
        if (reachable(a, b))
          perform(a, na->on_alive(b, b, b + ":1", 0, wall));
        else
          perform(a, na->on_gone(b, wall));
      }
  }

  void run(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 100) {
      wall += 100;
      for (auto& [id, n] : nodes)
        perform(id, n->on_tick(wall));
      while (!queue.empty()) {
        auto [from, to, msg] = std::move(queue.front());
        queue.pop_front();
        if (nodes.count(to) && reachable(from, to))
          perform(to, nodes[to]->on_message(from, msg, wall));
      }
    }
  }

  bool converged() {
    auto first = nodes.begin()->second->bucket_hashes();
    for (auto& [id, n] : nodes)
      if (n->bucket_hashes() != first)
        return false;
    return true;
  }
};

} // namespace

TEST_CASE("after a partition heals every node holds the same spore set") {
  cluster c;
  for (int i = 0; i < 8; ++i)
    c.add("n" + std::to_string(i));
  c.membership();
  c.run(3000);
  CHECK(c.converged());
  // Split; each side gains a node the other never met.
  for (auto& [id, s] : c.side)
    s = id < "n4" ? 0 : 1;
  c.membership();
  c.add("left-new", 0);
  c.add("right-new", 1);
  c.membership();
  c.run(3000);
  // n7 stops while apart: only its own side saw it active after the split.
  c.nodes.erase("n7");
  for (auto& [id, n] : c.nodes)
    c.perform(id, n->on_gone("n7", c.wall));
  c.run(3000);
  CHECK_FALSE(c.converged());
  CHECK(c.nodes["n0"]->spores().count("right-new") == 0);
  // Heal.
  for (auto& [id, s] : c.side)
    s = 0;
  c.membership();
  c.run(3000);
  CHECK(c.converged());
  for (auto& [id, n] : c.nodes) {
    CAPTURE(id);
    CHECK(n->spores().size() == 10); // n7's spore is kept: it is offline
    CHECK(n->spores() == c.nodes["n0"]->spores());
  }
  // n0 saw the other side come back, decided "sync required" (both sides
  // were active while apart) and announced one section event.
  auto& evs = c.events["n0"];
  int returned = 0;
  const tracker_event* section = nullptr;
  for (auto& e : evs) {
    if (e.what == tracker_event::type::returned) {
      ++returned;
      CHECK(e.decision == rejoin::sync_required);
    }
    if (e.what == tracker_event::type::section_rejoined)
      section = &e;
  }
  CHECK(returned == 3); // n4, n5, n6 (n7 stayed off, right-new is new)
  REQUIRE(section != nullptr);
  CHECK(section->decision == rejoin::sync_required);
  CHECK(section->gained == std::vector<std::string>{"left-new", "right-new"});
  CHECK(section->lost == std::vector<std::string>{"n7"});
  auto n7 = c.nodes["n0"]->view("n7");
  REQUIRE(n7);
  CHECK_FALSE(n7->online);
}

TEST_CASE("a node that was simply offline rejoins on the fast path") {
  cluster c;
  for (int i = 0; i < 3; ++i)
    c.add("n" + std::to_string(i));
  c.membership();
  c.run(2000);
  // n2 is switched off: nobody sees it, it sees nobody and is not active.
  auto n2 = std::move(c.nodes["n2"]);
  c.nodes.erase("n2");
  for (auto& [id, n] : c.nodes)
    c.perform(id, n->on_gone("n2", c.wall));
  c.run(5000);
  c.nodes["n2"] = std::move(n2);
  c.membership();
  c.run(2000);
  CHECK(c.converged());
  bool seen = false;
  for (auto& e : c.events["n0"])
    if (e.what == tracker_event::type::returned && e.node_id == "n2") {
      seen = true;
      CHECK(e.decision == rejoin::independent);
    }
  CHECK(seen);
}

TEST_CASE("a node learned only through spores is announced to contact") {
  cluster c;
  c.add("a");
  c.add("b");
  c.add("c", 1);
  // b met c once (say before); a never did.
  c.perform("b", c.nodes["b"]->on_alive("c", "c", "c:1", 0, c.wall));
  c.perform("a", c.nodes["a"]->on_alive("b", "b", "b:1", 0, c.wall));
  c.perform("b", c.nodes["b"]->on_alive("a", "a", "a:1", 0, c.wall));
  c.run(2000);
  bool learned = false;
  for (auto& e : c.events["a"])
    if (e.what == tracker_event::type::learned && e.node_id == "c") {
      learned = true;
      CHECK(e.addresses == std::vector<std::string>{"c:1"});
    }
  CHECK(learned);
  auto v = c.nodes["a"]->view("c");
  REQUIRE(v);
  CHECK_FALSE(v->online);
}

TEST_CASE("a stale copy from a peer that lost the node too decides nothing") {
  tracker_config cfg;
  cfg.slot_ms = 1000;
  cfg.sync_interval_ms = 1000;
  cfg.return_decision_ms = 10000;
  latent_spore self;
  self.node_id = "a";
  self.pointer = {{"a:1"}, "a", 0, {}};
  master_spore m;
  m.network_id = "t";
  int64_t t = 1700000000000;
  tracker_core a{cfg, self, m, 1, t};
  a.on_alive("c", "c", "c:1", 0, t);
  // What b (which lost c at the same time) still holds about c.
  auto stale = a.spores().at("c");
  a.on_gone("c", t + 1000);
  for (int64_t w = t + 1000; w <= t + 6000; w += 500)
    a.on_tick(w); // a stays active while apart
  auto returned = [](const tracker_effects& fx) {
    for (auto& e : fx.events)
      if (e.what == tracker_event::type::returned)
        return &e - &fx.events[0] + 1;
    return static_cast<long>(0);
  };
  CHECK_FALSE(returned(a.on_alive("c", "c", "c:1", 1, t + 6000)));
  sync_message push;
  push.kind = sync_message::type::push;
  push.spores = {stale};
  CHECK_FALSE(returned(a.on_message("b", push, t + 6010)));
  // A copy that shows c active while apart is news, whoever relays it.
  auto fresh = stale;
  fresh.activity.push_back({(t + 2000) / 1000, (t + 4000) / 1000});
  push.spores = {fresh};
  auto fx = a.on_message("b", push, t + 6020);
  auto i = returned(fx);
  REQUIRE(i);
  CHECK(fx.events[static_cast<size_t>(i - 1)].decision ==
        rejoin::sync_required);
}
