#include "mycelium/alerting/alert_core.hpp"

#include <doctest/doctest.h>

using namespace mycelium;
using namespace mycelium::alerting;
using metrics::sample;

namespace {

alerting_config base_config() {
  alerting_config c;
  threshold_rule down;
  down.name = "NodeDown";
  down.metric = "mycelium_member_up";
  down.cmp = comparison::eq;
  down.value = 0;
  down.severity = "critical";
  down.summary = "node {{peer}} is down";
  c.rules.push_back(down);
  threshold_rule disc;
  disc.name = "PeerDisconnected";
  disc.metric = "mycelium_transport_peer_connected";
  disc.cmp = comparison::eq;
  disc.value = 0;
  disc.for_ms = 2000;
  c.rules.push_back(disc);
  c.routing.channel = "ops";
  c.routing.group_by = {"peer"};
  c.routing.group_wait_ms = 1000;
  c.routing.group_interval_ms = 5000;
  c.routing.repeat_interval_ms = 60000;
  return c;
}

std::vector<sample> peer_state(const std::string& peer, bool member_up,
                               bool connected) {
  return {{"mycelium_member_up", {{"peer", peer}}, member_up ? 1.0 : 0.0},
          {"mycelium_transport_peer_connected",
           {{"peer", peer}},
           connected ? 1.0 : 0.0}};
}

std::vector<sample> join(std::vector<sample> a, const std::vector<sample>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const alert* find(const alert_core& c, const std::string& name,
                  const std::string& peer) {
  for (auto& [id, a] : c.alerts())
    if (a.label("alertname") == name && a.label("peer") == peer)
      return &a;
  return nullptr;
}

} // namespace

TEST_CASE("a rule goes pending, fires after its for-duration and resolves") {
  alert_core c{base_config()};
  auto fx = c.evaluate(peer_state("n3", true, false), 0);
  REQUIRE(find(c, "PeerDisconnected", "n3"));
  CHECK(find(c, "PeerDisconnected", "n3")->state == "pending");
  CHECK(fx.notify.empty());
  c.evaluate(peer_state("n3", true, false), 1000);
  CHECK(find(c, "PeerDisconnected", "n3")->state == "pending");
  c.evaluate(peer_state("n3", true, false), 2000);
  CHECK(find(c, "PeerDisconnected", "n3")->state == "firing");
  // group_wait: the first notification waits 1 s.
  CHECK(c.evaluate(peer_state("n3", true, false), 2500).notify.empty());
  fx = c.evaluate(peer_state("n3", true, false), 3000);
  REQUIRE(fx.notify.size() == 1);
  CHECK(fx.notify[0].channel == "ops");
  CHECK(fx.notify[0].status == "firing");
  CHECK(fx.notify[0].alerts.at(0).summary.empty());
  // Resolved: announced at the next group interval.
  c.evaluate(peer_state("n3", true, true), 4000);
  CHECK(find(c, "PeerDisconnected", "n3")->state == "resolved");
  CHECK(c.evaluate(peer_state("n3", true, true), 7000).notify.empty());
  fx = c.evaluate(peer_state("n3", true, true), 8000);
  REQUIRE(fx.notify.size() == 1);
  CHECK(fx.notify[0].status == "resolved");
  CHECK(c.evaluate(peer_state("n3", true, true), 20000).notify.empty());
}

TEST_CASE("a pending alert that clears before its for-duration never fires") {
  alert_core c{base_config()};
  c.evaluate(peer_state("n3", true, false), 0);
  c.evaluate(peer_state("n3", true, true), 1500);
  CHECK(c.alerts().empty());
  for (int64_t t = 2000; t < 10000; t += 500)
    CHECK(c.evaluate(peer_state("n3", true, true), t).notify.empty());
}

TEST_CASE("node down inhibits the follow-on alerts about that node only") {
  auto cfg = base_config();
  inhibit_rule r;
  r.source = *parse_matchers("alertname=NodeDown");
  r.target = *parse_matchers("severity!=critical");
  r.equal = {"peer"};
  cfg.inhibit.push_back(r);
  cfg.routing.group_by = {"alertname"};
  alert_core c{cfg};
  // n3 is down (transport noticed first), n2 only disconnected.
  std::vector<notification> sent;
  for (int64_t t = 0; t <= 6000; t += 500) {
    auto s =
        join(peer_state("n3", t < 1500, false), peer_state("n2", true, false));
    auto fx = c.evaluate(s, t);
    sent.insert(sent.end(), fx.notify.begin(), fx.notify.end());
  }
  REQUIRE(sent.size() == 2);
  for (auto& n : sent) {
    REQUIRE(n.alerts.size() == 1);
    auto& a = n.alerts[0];
    if (a.label("alertname") == "NodeDown")
      CHECK(a.summary == "node n3 is down");
    else
      CHECK(a.label("peer") == "n2"); // n3's is inhibited
  }
  CHECK(find(c, "PeerDisconnected", "n3")->inhibited);
  CHECK_FALSE(find(c, "PeerDisconnected", "n2")->inhibited);
}

TEST_CASE("alerts with the same group labels go out in one notification") {
  alert_core c{base_config()}; // grouped by peer
  std::vector<notification> sent;
  for (int64_t t = 0; t <= 4000; t += 500) {
    auto fx = c.evaluate(peer_state("n3", false, false), t);
    sent.insert(sent.end(), fx.notify.begin(), fx.notify.end());
  }
  // NodeDown fires at 0 and opens the group; PeerDisconnected fires at
  // 2000, after the first flush at 1000: it comes with the next one.
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].alerts.size() == 1);
  auto fx = c.evaluate(peer_state("n3", false, false), 6000);
  REQUIRE(fx.notify.size() == 1);
  CHECK(fx.notify[0].alerts.size() == 2);
  CHECK(fx.notify[0].group_labels == metrics::label_set{{"peer", "n3"}});
}

TEST_CASE("silences mute matching alerts until they expire") {
  alert_core c{base_config()};
  auto m = parse_matchers("peer=n3,alertname=NodeDown");
  REQUIRE(m);
  auto id = c.add_silence(*m, 0, 5000, "maintenance");
  for (int64_t t = 0; t < 5000; t += 500)
    CHECK(c.evaluate(peer_state("n3", false, true), t).notify.empty());
  CHECK(find(c, "NodeDown", "n3")->silenced);
  // Expired: the group opens and notifies after group_wait.
  c.evaluate(peer_state("n3", false, true), 5000);
  CHECK(c.silences().empty());
  auto fx = c.evaluate(peer_state("n3", false, true), 6000);
  CHECK(fx.notify.size() == 1);
  CHECK_FALSE(c.expire_silence(id));
  CHECK_FALSE(parse_matchers("peer"));
  CHECK_FALSE(parse_matchers("=x"));
  CHECK_FALSE(parse_matchers("bad label=x"));
}

TEST_CASE("an unacknowledged critical alert escalates once; an acked one "
          "does not") {
  auto cfg = base_config();
  cfg.routing.escalation_channel = "pager";
  cfg.routing.escalate_after_ms = 3000;
  alert_core c{cfg};
  std::vector<notification> pages;
  auto run = [&](int64_t from, int64_t to, const std::vector<sample>& s) {
    for (int64_t t = from; t <= to; t += 500)
      for (auto& n : c.evaluate(s, t).notify)
        if (n.escalation)
          pages.push_back(n);
  };
  auto both =
      join(peer_state("n3", false, true), peer_state("n4", false, true));
  c.evaluate(both, 0);
  REQUIRE(c.ack(find(c, "NodeDown", "n4")->id, 100));
  CHECK_FALSE(c.ack("nope", 100));
  run(500, 10000, both);
  REQUIRE(pages.size() == 1);
  CHECK(pages[0].channel == "pager");
  CHECK(pages[0].alerts.at(0).label("peer") == "n3");
  CHECK(find(c, "NodeDown", "n3")->escalated);
}

TEST_CASE("state survives save and load: no second notification") {
  alert_core a{base_config()};
  for (int64_t t = 0; t <= 1500; t += 500)
    a.evaluate(peer_state("n3", false, true), t);
  a.add_silence(*parse_matchers("peer=n9"), 1500, 60000, "later");
  REQUIRE(a.ack(find(a, "NodeDown", "n3")->id, 1500));
  auto saved = a.save();
  alert_core b{base_config()};
  REQUIRE(b.load(saved));
  CHECK(b.save() == saved);
  CHECK(find(b, "NodeDown", "n3")->acked);
  CHECK(b.silences().size() == 1);
  // Still firing after the restart: already notified, nothing new.
  CHECK(b.evaluate(peer_state("n3", false, true), 2000).notify.empty());
  CHECK_FALSE(b.load("{\"alerts\": 5}"));
  CHECK_FALSE(b.load("not json"));
  CHECK(b.save() != "");
}

TEST_CASE("anomaly rules score the rate of a counter") {
  alerting_config cfg;
  anomaly_rule r;
  r.name = "FrameRateAnomaly";
  r.metric = "frames_total";
  r.rate = true;
  r.summary = "{{value}} frames/s (forecast {{forecast}})";
  cfg.anomalies.push_back(r);
  cfg.routing.group_wait_ms = 0;
  cfg.routing.group_interval_ms = 1000;
  alert_core c{cfg};
  double total = 0;
  std::vector<notification> sent;
  for (int64_t t = 0; t < 120000; t += 1000) {
    total += (t == 90000 ? 5000 : 100 + (t / 1000) % 7);
    auto fx = c.evaluate({{"frames_total", {}, total}}, t);
    sent.insert(sent.end(), fx.notify.begin(), fx.notify.end());
  }
  REQUIRE(sent.size() == 2); // firing at the spike, resolved after
  CHECK(sent[0].alerts.at(0).label("alertname") == "FrameRateAnomaly");
  CHECK(sent[0].alerts.at(0).summary.find("5000 frames/s (forecast 10") == 0);
  CHECK(sent[1].status == "resolved");
}

TEST_CASE("alerts of a rule removed from the config resolve after a restart") {
  alert_core a{base_config()};
  for (int64_t t = 0; t <= 1500; t += 500)
    a.evaluate(peer_state("n3", false, true), t);
  REQUIRE(find(a, "NodeDown", "n3")->state == "firing");
  auto cfg = base_config();
  cfg.rules.erase(cfg.rules.begin()); // NodeDown is gone
  alert_core b{cfg};
  REQUIRE(b.load(a.save()));
  b.evaluate(peer_state("n3", false, true), 2000);
  CHECK(find(b, "NodeDown", "n3")->state == "resolved");
}
