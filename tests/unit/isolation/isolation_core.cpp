#include "mycelium/isolation/isolation_core.hpp"
#include "mycelium/gdb/database_core.hpp"

#include <doctest/doctest.h>

using namespace mycelium;
using namespace mycelium::isolation;

namespace {

/// Wall times are never 0 (0 means "not" in the state).
constexpr wall_ms T = 1700000000000;

settings quick() {
  settings s;
  s.grace_ms = 1000;
  s.override_after_ms = 5000;
  return s;
}

view alone() {
  return {0, {{"b1", "n2", {"127.0.0.1:7002"}}, {"c1", "n3", {"h:3", "h:4"}}}};
}

view with_peer() {
  return {1, {{"c1", "n3", {"h:3"}}}};
}

const resources plenty{0.5, {}};

bool has(const effects& fx, event::type t) {
  for (auto& e : fx.events)
    if (e.what == t)
      return true;
  return false;
}

} // namespace

TEST_CASE("alone past the grace period: isolated, read-only, every address "
          "dialed once") {
  isolation_core c{quick()};
  auto fx = c.observe(alone(), plenty, T + 10000);
  CHECK_FALSE(fx.changed);
  CHECK_FALSE(c.read_only());
  fx = c.observe(alone(), plenty, T + 10999);
  CHECK_FALSE(c.read_only());
  fx = c.observe(alone(), plenty, T + 11000);
  CHECK(fx.changed);
  CHECK(has(fx, event::type::isolated));
  CHECK(c.read_only());
  CHECK(c.current().current == mode::isolated);
  CHECK(c.current().isolated_since == T + 11000);
  CHECK(fx.dial == std::vector<std::string>{"127.0.0.1:7002", "h:3", "h:4"});
  CHECK(c.read_only_reason().find("isolated") != std::string::npos);
  // Dialed once: the transport keeps dialing with its own backoff.
  fx = c.observe(alone(), plenty, T + 12000);
  CHECK(fx.dial.empty());
  CHECK_FALSE(fx.changed);
  // A node learned later is dialed too.
  auto more = alone();
  more.unreachable.push_back({"d1", "n4", {"h:5"}});
  fx = c.observe(more, plenty, T + 12500);
  CHECK(fx.dial == std::vector<std::string>{"h:5"});
}

TEST_CASE("a peer back within the grace period: never isolated") {
  isolation_core c{quick()};
  c.observe(alone(), plenty, T + 0);
  auto fx = c.observe(with_peer(), plenty, T + 900);
  CHECK_FALSE(fx.changed);
  // The grace period starts again from the next time it is alone.
  c.observe(alone(), plenty, T + 1500);
  CHECK_FALSE(c.observe(alone(), plenty, T + 2400).changed);
  CHECK(c.observe(alone(), plenty, T + 2500).changed);
}

TEST_CASE("nothing heard from any peer for silence_ms: alone although "
          "membership still shows its members alive") {
  auto s = quick();
  s.silence_ms = 600;
  isolation_core c{s};
  // Membership shows two reachable members; the transport heard one 100 ms
  // ago: connected.
  view v{2, {}, 100, {{"b1", "n2", {"h:2"}}, {"c1", "n3", {"h:3"}}}};
  CHECK_FALSE(c.observe(v, plenty, T + 0).changed);
  CHECK(c.current().alone_since == 0);
  // Heard nothing for 600 ms: alone from now, isolated after the grace.
  v.heard_ago_ms = 600;
  CHECK_FALSE(c.observe(v, plenty, T + 500).changed);
  CHECK(c.current().alone_since == T + 500);
  v.heard_ago_ms = 1600;
  auto fx = c.observe(v, plenty, T + 1500);
  CHECK(fx.changed);
  CHECK(c.read_only());
  CHECK(fx.dial == std::vector<std::string>{"h:2", "h:3"});
  REQUIRE_FALSE(fx.events.empty());
  CHECK(fx.events[0].detail.find("nothing heard from any for 1.6 s") !=
        std::string::npos);
  // A peer heard again: rejoined at once.
  v.heard_ago_ms = 10;
  CHECK(has(c.observe(v, plenty, T + 1600), event::type::rejoined));
  CHECK_FALSE(c.read_only());
}

TEST_CASE("a blip of silence shorter than the grace period does not isolate, "
          "and silence_ms 0 turns the evidence off") {
  auto s = quick();
  s.silence_ms = 600;
  isolation_core c{s};
  view v{1, {}, 700, {{"b1", "n2", {"h:2"}}}};
  c.observe(v, plenty, T + 0);
  v.heard_ago_ms = 1600;
  CHECK_FALSE(c.observe(v, plenty, T + 900).changed);
  v.heard_ago_ms = 50;
  c.observe(v, plenty, T + 950);
  CHECK(c.current().alone_since == 0);
  CHECK_FALSE(c.read_only());
  s.silence_ms = 0;
  isolation_core off{s};
  v.heard_ago_ms = 1000000;
  off.observe(v, plenty, T + 0);
  CHECK_FALSE(off.observe(v, plenty, T + 5000).changed);
  CHECK_FALSE(off.read_only());
}

TEST_CASE("a network of one, or a disabled controller, is never isolated") {
  isolation_core c{quick()};
  CHECK_FALSE(c.observe({0, {}}, plenty, T + 0).changed);
  CHECK_FALSE(c.observe({0, {}}, plenty, T + 100000).changed);
  CHECK_FALSE(c.read_only());
  auto s = quick();
  s.enabled = false;
  isolation_core off{s};
  off.observe(alone(), plenty, T + 0);
  off.observe(alone(), plenty, T + 100000);
  CHECK_FALSE(off.read_only());
}

TEST_CASE("reappearance ends an isolation and an override at once") {
  isolation_core c{quick()};
  c.observe(alone(), plenty, T + 0);
  c.observe(alone(), plenty, T + 1000);
  REQUIRE(c.read_only());
  auto fx = c.observe(with_peer(), plenty, T + 4000);
  CHECK(fx.changed);
  CHECK(has(fx, event::type::rejoined));
  CHECK_FALSE(c.read_only());
  CHECK(c.current().current == mode::connected);
  CHECK(c.current().isolated_since == 0);
  CHECK(c.dialed().empty());
  // Overridden, then a peer: connected (the override ends with it).
  c.observe(alone(), plenty, T + 10000);
  c.observe(alone(), plenty, T + 11000);
  REQUIRE(c.override_isolation("op", "", true, plenty, T + 11500));
  fx = c.observe(with_peer(), plenty, T + 12000);
  CHECK(has(fx, event::type::rejoined));
  CHECK(c.current().current == mode::connected);
  CHECK(c.current().overridden_by.empty());
}

TEST_CASE("an override waits for override_after_ms unless forced, and is "
          "refused with each cause") {
  isolation_core c{quick()};
  auto none = c.override_isolation("op", "", false, plenty, T + 0);
  REQUIRE_FALSE(none);
  CHECK(none.err().code() == static_cast<uint8_t>(errc::not_isolated));
  c.observe(alone(), plenty, T + 0);
  c.observe(alone(), plenty, T + 1000);
  auto early = c.override_isolation("op", "", false, plenty, T + 3000);
  REQUIRE_FALSE(early);
  CHECK(early.err().code() == static_cast<uint8_t>(errc::too_early));
  CHECK(early.err().message().find("override_after_ms") != std::string::npos);
  CHECK(c.read_only());
  resources short_disk{0.01, {}};
  auto disk = c.override_isolation("op", "", true, short_disk, T + 3000);
  REQUIRE_FALSE(disk);
  CHECK(disk.err().code() ==
        static_cast<uint8_t>(errc::insufficient_resources));
  CHECK(disk.err().message().find("min_disk_free_ratio") != std::string::npos);
  resources failing{0.5, {"gdb", "spores"}};
  auto store = c.override_isolation("op", "", true, failing, T + 3000);
  REQUIRE_FALSE(store);
  CHECK(store.err().message().find("gdb") != std::string::npos);
  CHECK(store.err().message().find("spores") != std::string::npos);
  CHECK(c.read_only());
  // After override_after_ms, with resources: writable.
  auto fx = c.override_isolation("op", "maintenance", false, plenty, T + 6000);
  REQUIRE(fx);
  CHECK(fx->changed);
  CHECK(has(*fx, event::type::overridden));
  CHECK_FALSE(c.read_only());
  CHECK(c.current().current == mode::overridden);
  CHECK(c.current().override_reason == "maintenance");
  auto twice = c.override_isolation("op", "", true, plenty, T + 6100);
  REQUIRE_FALSE(twice);
  CHECK(twice.err().code() == static_cast<uint8_t>(errc::not_isolated));
}

TEST_CASE("an override is revoked by resources that fall short, or by "
          "the operator") {
  isolation_core c{quick()};
  c.observe(alone(), plenty, T + 0);
  c.observe(alone(), plenty, T + 1000);
  REQUIRE(c.override_isolation("op", "", true, plenty, T + 1000));
  auto fx = c.observe(alone(), {0.5, {"gdb"}}, T + 2000);
  CHECK(fx.changed);
  CHECK(has(fx, event::type::override_revoked));
  CHECK(c.read_only());
  REQUIRE(c.override_isolation("op", "", true, plenty, T + 3000));
  auto revoked = c.revoke("op", T + 3500);
  REQUIRE(revoked);
  CHECK(c.read_only());
  auto again = c.revoke("op", T + 3600);
  REQUIRE_FALSE(again);
  CHECK(again.err().code() == static_cast<uint8_t>(errc::not_overridden));
}

TEST_CASE("automatic override after auto_override_after_ms, only with "
          "resources") {
  auto s = quick();
  s.auto_override_after_ms = 4000;
  isolation_core c{s};
  c.observe(alone(), plenty, T + 0);
  c.observe(alone(), plenty, T + 1000);
  CHECK_FALSE(c.observe(alone(), plenty, T + 4999).changed);
  CHECK_FALSE(c.observe(alone(), {0.0, {}}, T + 5000).changed);
  CHECK(c.read_only());
  auto fx = c.observe(alone(), plenty, T + 5100);
  CHECK(fx.changed);
  CHECK(has(fx, event::type::overridden));
  CHECK(c.current().overridden_by == "auto");
  CHECK_FALSE(c.read_only());
}

TEST_CASE("the state survives save and load; damaged states are refused "
          "and change nothing") {
  isolation_core c{quick()};
  c.observe(alone(), plenty, T + 0);
  c.observe(alone(), plenty, T + 1000);
  REQUIRE(c.override_isolation("op", "why", true, plenty, T + 1200));
  isolation_core back{quick()};
  REQUIRE(back.load(c.save()));
  CHECK(back.save() == c.save());
  CHECK(back.current().current == mode::overridden);
  CHECK(back.current().overridden_by == "op");
  // Still alone after the restart: stays overridden, nothing new.
  CHECK_FALSE(back.observe(alone(), plenty, T + 2000).changed);
  CHECK_FALSE(back.read_only());
  isolation_core fresh{quick()};
  auto before = fresh.save();
  for (auto bad :
       {"", "[]", "{\"mode\":\"sideways\"}", "{\"mode\":\"isolated\"}",
        R"({"mode":"isolated","alone_since_ms":1,"isolated_since_ms":0,)"
        R"("overridden_at_ms":0,"overridden_by":"","override_reason":""})",
        R"({"mode":"connected","alone_since_ms":"x","isolated_since_ms":0,)"
        R"("overridden_at_ms":0,"overridden_by":"","override_reason":""})"}) {
    auto r = fresh.load(bad);
    CHECK_FALSE(r);
    CHECK(r.err().code() == static_cast<uint8_t>(errc::bad_state));
    CHECK(fresh.save() == before);
  }
}

TEST_CASE("the Global Database refuses writes while isolated, with the "
          "controller's reason, independent of the operator's switch") {
  gdb::database_core db{"a", {}};
  db.set_isolated("the node is isolated");
  auto put = db.put("k", "v", gdb::crdt_value::type::lww, 1);
  REQUIRE_FALSE(put);
  CHECK(put.err().code() == static_cast<uint8_t>(gdb::gdb_errc::read_only));
  CHECK(put.err().message() == "the node is isolated");
  CHECK_FALSE(db.del("k"));
  db.set_isolated("");
  REQUIRE(db.put("k", "v", gdb::crdt_value::type::lww, 1));
  db.set_read_only(true);
  db.set_isolated("");
  CHECK_FALSE(db.put("k", "w", gdb::crdt_value::type::lww, 2));
  CHECK(db.get("k")->values == std::vector<std::string>{"v"});
}

TEST_CASE("the view: reachable members count, left ones not at all, failed "
          "members and offline spores are unreachable with every address") {
  using status = member_seen::status;
  std::vector<member_seen> members{
      {"self", "n0", "h:0", status::reachable},
      {"a1", "n1", "h:1", status::reachable},
      {"b1", "n2", "h:2b", status::failed},
      {"c1", "n3", "h:3", status::left},
  };
  std::vector<known_node> spores{
      {"a1", "n1", {"h:1old"}}, {"b1", "", {"h:2a"}},    {"c1", "n3", {"h:3"}},
      {"d1", "n4", {"h:4"}},    {"self", "n0", {"h:0"}},
  };
  auto v = make_view(members, spores, "self", 250);
  CHECK(v.reachable == 1);
  REQUIRE(v.reachable_nodes.size() == 1);
  CHECK(v.reachable_nodes[0].id == "a1");
  CHECK(v.reachable_nodes[0].addresses ==
        std::vector<std::string>{"h:1old", "h:1"});
  REQUIRE(v.unreachable.size() == 2);
  CHECK(v.unreachable[0].id == "b1");
  CHECK(v.unreachable[0].name == "n2");
  CHECK(v.unreachable[0].addresses == std::vector<std::string>{"h:2a", "h:2b"});
  CHECK(v.unreachable[1].id == "d1");
  CHECK(v.heard_ago_ms == 250);
  // Only itself known: a network of one, never alone.
  auto one = make_view({{"self", "n0", "h:0", status::reachable}},
                       {{"self", "n0", {"h:0"}}}, "self", -1);
  CHECK(one.reachable == 0);
  CHECK(one.unreachable.empty());
}
