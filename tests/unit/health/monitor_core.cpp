#include "mycelium/health/monitor_core.hpp"
#include "mycelium/health/health_store.hpp"
#include "mycelium/health/resources.hpp"
#include "mycelium/health/status_json.hpp"

#include "mycelium/json/json.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

using namespace mycelium;
using namespace mycelium::health;

namespace {

supervision_event event(uint64_t seq, std::string kind, wall_ms t,
                        std::string reason = "") {
  supervision_event ev;
  ev.seq = seq;
  ev.time = t;
  ev.component = "node/x";
  ev.kind = std::move(kind);
  ev.reason = std::move(reason);
  return ev;
}

} // namespace

TEST_CASE("supervision events drive a component's status") {
  monitor_core core{10};
  core.on_event(event(1, "started", 100));
  CHECK(core.components().at("node/x").state == "running");
  core.on_event(event(2, "restarted", 200, "boom"));
  auto& c = core.components().at("node/x");
  CHECK(c.state == "restarting");
  CHECK(c.restarts == 1);
  CHECK(c.last_reason == "boom");
  CHECK(c.last_failure == 200);
  core.on_event(event(3, "started", 210));
  CHECK(core.components().at("node/x").state == "running");
  CHECK(core.components().at("node/x").restarts == 1);
  core.on_event(event(4, "failed", 300, "gave up"));
  CHECK(core.components().at("node/x").state == "failed");
}

TEST_CASE("the roll-up names failed and restarting components") {
  monitor_core core{10};
  CHECK(core.report(0).level == "ok");
  core.on_event(event(1, "restarted", 100, "boom"));
  auto r = core.report(100);
  CHECK(r.level == "degraded");
  REQUIRE(r.reasons.size() == 1);
  CHECK(r.reasons[0].find("node/x is restarting after: boom") !=
        std::string::npos);
  core.on_event(event(2, "failed", 200, "intensity"));
  CHECK(core.report(200).level == "failing");
}

TEST_CASE("many recent restarts degrade the node until they age out") {
  monitor_core core{10};
  for (uint64_t i = 1; i <= 3; ++i) {
    core.on_event(event(2 * i, "restarted", 1000 * i, "boom"));
    core.on_event(event(2 * i + 1, "started", 1000 * i + 1));
  }
  auto now = core.report(3001);
  CHECK(now.level == "degraded");
  CHECK(core.report(3001 + 120000).level == "ok");
}

TEST_CASE("a nearly full disk degrades the node") {
  monitor_core core{10};
  resource_sample s;
  s.disk_total_bytes = 1000;
  s.disk_free_bytes = 10;
  core.on_sample(s);
  auto r = core.report(0);
  CHECK(r.level == "degraded");
  CHECK(r.reasons.at(0).find("disk") != std::string::npos);
}

TEST_CASE("connectivity, security events and slow probes roll up") {
  monitor_core core{10};
  signals s;
  s.time = 0;
  s.connected_peers = 2;
  s.live_members = 2;
  core.on_signals(s);
  CHECK(core.report(0).level == "ok");
  // A peer lost, two failed handshakes, probes slow on average.
  s.time = 5000;
  s.connected_peers = 1;
  s.security_events = 2;
  s.probes = 4;
  s.probe_rtt_sum_s = 4 * 0.8;
  core.on_signals(s);
  auto r = core.report(5000);
  CHECK(r.level == "degraded");
  REQUIRE(r.reasons.size() == 3);
  CHECK(r.reasons[0] == "connected to 1 of 2 live members");
  CHECK(r.reasons[1].find("2 security events") == 0);
  CHECK(r.reasons[2] == "probe round trips average 800 ms");
  // A minute later, with the peer back and nothing new: ok again.
  for (int64_t t = 10000; t <= 80000; t += 5000) {
    s.time = t;
    s.connected_peers = 2;
    core.on_signals(s);
  }
  CHECK(core.report(80000).level == "ok");
}

TEST_CASE("sample history is bounded, oldest dropped first") {
  monitor_core core{3};
  for (int64_t t = 1; t <= 5; ++t) {
    resource_sample s;
    s.time = t;
    core.on_sample(s);
  }
  REQUIRE(core.samples().size() == 3);
  CHECK(core.samples().front().time == 3);
  CHECK(core.samples().back().time == 5);
}

TEST_CASE("sampling this process reads plausible figures") {
  test::temp_dir dir;
  dir.write("file", std::string(10000, 'x'));
  auto s = sample_resources(dir.path(), 77);
  CHECK(s.time == 77);
  CHECK(s.rss_bytes > 0);
  CHECK(s.open_fds >= 3);
  CHECK(s.data_dir_bytes == 10000);
  CHECK(s.disk_total_bytes > 0);
  CHECK(s.disk_free_bytes <= s.disk_total_bytes);
  CHECK(s.cpu_seconds >= 0.0);
}

TEST_CASE("the health store restores components, samples and the cursor") {
  test::temp_dir dir;
  {
    auto db = *store::database::open(dir / "m.db");
    auto hs = *health_store::open(db);
    monitor_core core{10};
    auto ev = event(1, "restarted", 100, "boom");
    REQUIRE(hs.apply("boot-a", ev, core.on_event(ev), 100));
    ev = event(2, "started", 110);
    REQUIRE(hs.apply("boot-a", ev, core.on_event(ev), 100));
    resource_sample s;
    s.time = 5;
    s.rss_bytes = 1234;
    REQUIRE(hs.add_sample(s, 100));
  }
  auto db = *store::database::open(dir / "m.db");
  auto hs = *health_store::open(db);
  monitor_core core{10};
  auto cursor = hs.load(core);
  REQUIRE(cursor);
  CHECK(cursor->boot == "boot-a");
  CHECK(cursor->seq == 2);
  auto& c = core.components().at("node/x");
  CHECK(c.state == "running");
  CHECK(c.restarts == 1);
  CHECK(c.last_reason == "boom");
  REQUIRE(core.samples().size() == 1);
  CHECK(core.samples().back().rss_bytes == 1234);
  auto events = hs.recent_events(10);
  REQUIRE(events);
  CHECK(events->size() == 2);
}

TEST_CASE("the health store keeps only the newest events and samples") {
  test::temp_dir dir;
  auto db = *store::database::open(dir / "m.db");
  auto hs = *health_store::open(db);
  monitor_core core{100};
  for (uint64_t i = 1; i <= 20; ++i) {
    auto ev = event(i, "started", static_cast<wall_ms>(i));
    REQUIRE(hs.apply("b", ev, core.on_event(ev), 5));
    resource_sample s;
    s.time = static_cast<wall_ms>(i);
    REQUIRE(hs.add_sample(s, 4));
  }
  auto events = *hs.recent_events(100);
  REQUIRE(events.size() == 5);
  CHECK(events.front().seq == 16);
  monitor_core restored{100};
  REQUIRE(hs.load(restored));
  REQUIRE(restored.samples().size() == 4);
  CHECK(restored.samples().front().time == 17);
}

TEST_CASE("the status document carries identity, health and components") {
  monitor_core core{10};
  core.on_event(event(1, "restarted", 100, "boom"));
  node_identity id{"n1", "127.0.0.1:1", "net", "boot", 42, 7};
  auto doc = json::parse(render_status(id, core, 1000));
  CHECK(doc["node"] == "n1");
  CHECK(doc["pid"] == 42);
  CHECK(doc["health"]["level"] == "degraded");
  CHECK(doc["components"][0]["path"] == "node/x");
  CHECK(doc["components"][0]["restarts"] == 1);
}

TEST_CASE("membership events are counted and a failed member degrades the "
          "node") {
  monitor_core core{10};
  core.on_member("id-a", "a", "alive");
  core.on_member("id-b", "b", "alive");
  CHECK(core.member_counts() == std::map<std::string, int64_t>{{"alive", 2}});
  CHECK(core.report(0).level == "ok");
  core.on_member("id-b", "b", "failed");
  auto r = core.report(0);
  CHECK(r.level == "degraded");
  CHECK(r.reasons.at(0).find("member b") != std::string::npos);
  core.on_member("id-b", "b", "alive");
  CHECK(core.report(0).level == "ok");
}
