#include "mycelium/config/node_config.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <dirent.h>
#include <sys/stat.h>

using namespace mycelium;
using config::errc;

namespace {

const char* key_hex = "00112233445566778899aabbccddeeff";

/// A folder holding a valid key file and a config built from `body`.
struct fixture {
  test::temp_dir dir;

  fixture() { dir.write("net.key", std::string{key_hex} + "\n"); }

  std::string valid_body(const std::string& extra = "") const {
    return R"({
  "name": "n1",
  "listen": "127.0.0.1:7001",
  "data_dir": "data",
  "network_id": "testnet",
  "isolation_keys": ["net.key"])" +
           extra + "\n}\n";
  }

  result<config::node_config> load(const std::string& body) {
    return config::load(dir.write("node.json", body));
  }

  /// Number of entries in the folder (to prove nothing was created).
  int entries() const {
    int n = 0;
    if (auto* d = ::opendir(dir.path().c_str())) {
      while (auto* e = ::readdir(d))
        if (e->d_name[0] != '.')
          ++n;
      ::closedir(d);
    }
    return n;
  }
};

errc code_of(const result<config::node_config>& r) {
  return static_cast<errc>(r.err().code());
}

} // namespace

TEST_CASE("a valid config loads with profile defaults and resolved paths") {
  fixture f;
  auto cfg = f.load(f.valid_body());
  REQUIRE(cfg);
  CHECK(cfg->name == "n1");
  CHECK(cfg->listen.host == "127.0.0.1");
  CHECK(cfg->listen.port == 7001);
  CHECK(cfg->data_dir == f.dir / "data");
  CHECK(cfg->isolation_keys.at(0) == f.dir / "net.key");
  CHECK(cfg->isolation_key_hex.at(0) == key_hex);
  CHECK(cfg->profile == "lan");
  CHECK(cfg->supervision.backoff_initial_ms ==
        config::supervision_config::defaults().backoff_initial_ms);
  CHECK_FALSE(cfg->allow_fault_injection);
}

TEST_CASE("the local profile selects fast timings that keys still override") {
  fixture f;
  auto cfg = f.load(f.valid_body(R"(, "profile": "local",
  "supervision": { "max_restarts": 7 })"));
  REQUIRE(cfg);
  CHECK(cfg->supervision.backoff_initial_ms ==
        config::supervision_config::local().backoff_initial_ms);
  CHECK(cfg->health.sample_interval_ms ==
        config::health_config::local().sample_interval_ms);
  CHECK(cfg->supervision.max_restarts == 7);
}

TEST_CASE("a syntax error is reported with line and column") {
  fixture f;
  auto cfg = f.load("{\n  \"name\": \"n1\",\n  \"listen\" \"x\"\n}\n");
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg) == errc::syntax);
  CHECK(cfg.err().message().find("node.json") != std::string::npos);
  INFO(cfg.err().message());
  // The position is the last character of the offending token ("x").
  CHECK(cfg.err().message().find("line 3, column 14") != std::string::npos);
}

TEST_CASE("a value of the wrong type names its JSON path and the type") {
  fixture f;
  auto cfg =
      f.load(f.valid_body(R"(, "supervision": { "max_restarts": "five" })"));
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg) == errc::wrong_type);
  auto& msg = cfg.err().message();
  CHECK(msg.find("supervision.max_restarts") != std::string::npos);
  CHECK(msg.find("expected an integer") != std::string::npos);
}

TEST_CASE("an unknown key is refused, also inside a section") {
  fixture f;
  auto top = f.load(f.valid_body(R"(, "nmae": "typo")"));
  REQUIRE_FALSE(top);
  CHECK(code_of(top) == errc::unknown_key);
  CHECK(top.err().message().find("nmae: unknown key") != std::string::npos);
  auto nested = f.load(f.valid_body(R"(, "health": { "interval": 5 })"));
  REQUIRE_FALSE(nested);
  CHECK(code_of(nested) == errc::unknown_key);
  CHECK(nested.err().message().find("health.interval") != std::string::npos);
}

TEST_CASE("a missing required key is named with what was expected") {
  fixture f;
  auto cfg = f.load(R"({ "name": "n1", "listen": "127.0.0.1:1",
    "network_id": "x", "isolation_keys": ["net.key"] })");
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg) == errc::missing_key);
  CHECK(cfg.err().message().find("data_dir: missing required key") !=
        std::string::npos);
}

TEST_CASE("a port out of range is refused") {
  fixture f;
  for (auto bad : {"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "host",
                   "127.0.0.1:12ab"}) {
    CAPTURE(bad);
    auto body = f.valid_body();
    body.replace(body.find("127.0.0.1:7001"), 14, bad);
    auto cfg = f.load(body);
    REQUIRE_FALSE(cfg);
    CHECK(code_of(cfg) == errc::bad_value);
    CHECK(cfg.err().message().find("listen: expected \"host:port\"") !=
          std::string::npos);
  }
  auto seed = f.load(f.valid_body(R"(, "seeds": ["127.0.0.1:99999"])"));
  REQUIRE_FALSE(seed);
  CHECK(seed.err().message().find("seeds[0]") != std::string::npos);
}

TEST_CASE("a data dir that cannot be written is refused") {
  fixture f;
  f.dir.write("plain-file", "x");
  auto cfg = f.load(f.valid_body());
  REQUIRE(cfg);
  auto body = f.valid_body();
  body.replace(body.find("\"data\""), 6, "\"plain-file/sub\"");
  auto under_file = f.load(body);
  REQUIRE_FALSE(under_file);
  CHECK(code_of(under_file) == errc::not_writable);
  CHECK(under_file.err().message().find("data_dir") != std::string::npos);
  if (::geteuid() != 0) { // root writes anywhere
    ::mkdir((f.dir / "ro").c_str(), 0500);
    body = f.valid_body();
    body.replace(body.find("\"data\""), 6, "\"ro/data\"");
    auto read_only = f.load(body);
    REQUIRE_FALSE(read_only);
    CHECK(code_of(read_only) == errc::not_writable);
  }
}

TEST_CASE("a missing or malformed key file is refused") {
  fixture f;
  auto body = f.valid_body();
  body.replace(body.find("net.key"), 7, "nope.key");
  auto missing = f.load(body);
  REQUIRE_FALSE(missing);
  CHECK(code_of(missing) == errc::bad_key_file);
  CHECK(missing.err().message().find("isolation_keys[0]") != std::string::npos);
  CHECK(missing.err().message().find("nope.key") != std::string::npos);
  f.dir.write("short.key", "abcd\n");
  body = f.valid_body(R"(, "admin_key": "short.key")");
  auto short_key = f.load(body);
  REQUIRE_FALSE(short_key);
  CHECK(code_of(short_key) == errc::bad_key_file);
  CHECK(short_key.err().message().find("admin_key") != std::string::npos);
}

TEST_CASE("bad values in sections are refused with their range") {
  fixture f;
  auto jitter =
      f.load(f.valid_body(R"(, "supervision": { "backoff_jitter": 1.5 })"));
  REQUIRE_FALSE(jitter);
  CHECK(code_of(jitter) == errc::bad_value);
  CHECK(jitter.err().message().find("supervision.backoff_jitter") !=
        std::string::npos);
  auto level = f.load(f.valid_body(R"(, "log": { "level": "loud" })"));
  REQUIRE_FALSE(level);
  CHECK(level.err().message().find("log.level") != std::string::npos);
  auto profile = f.load(f.valid_body(R"(, "profile": "wan")"));
  REQUIRE_FALSE(profile);
  CHECK(profile.err().message().find("profile") != std::string::npos);
}

TEST_CASE("loading a bad config creates nothing on disk") {
  fixture f;
  auto before = f.entries() + 1; // node.json is written by load()
  auto cfg = f.load(f.valid_body(R"(, "bogus": 1)"));
  REQUIRE_FALSE(cfg);
  CHECK(f.entries() == before);
  auto good = f.load(f.valid_body());
  REQUIRE(good);
  CHECK(f.entries() == before); // validating never creates the data dir
}

TEST_CASE("an unreadable config file is reported") {
  auto cfg = config::load("/nonexistent/node.json");
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg) == errc::unreadable);
  CHECK(cfg.err().message().find("/nonexistent/node.json") !=
        std::string::npos);
}

TEST_CASE("a number out of every range is a syntax error, not a crash") {
  fixture f;
  auto cfg = f.load("6888E8888");
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg) == errc::syntax);
  auto nested =
      f.load(f.valid_body(R"(, "supervision": { "max_restarts": 1e999 })"));
  REQUIRE_FALSE(nested);
}

TEST_CASE("the isolation section: profiles, overrides, bad values named") {
  fixture f;
  auto lan = f.load(f.valid_body());
  REQUIRE(lan);
  CHECK(lan->isolation.enabled);
  CHECK(lan->isolation.grace_ms == 10000);
  CHECK(lan->isolation.override_after_ms == 60000);
  CHECK(lan->isolation.auto_override_after_ms == 0);
  auto local = f.load(f.valid_body(R"(, "profile": "local")"));
  REQUIRE(local);
  CHECK(local->isolation.grace_ms == 3000);
  CHECK(lan->isolation.silence_ms == 2000);
  CHECK(local->isolation.silence_ms == 600);
  CHECK(lan->transport.keepalive_ms == 1000);
  CHECK(lan->transport.dead_after_ms == 5000);
  CHECK(local->transport.keepalive_ms == 200);
  CHECK(local->transport.dead_after_ms == 2000);
  auto set = f.load(f.valid_body(R"(, "isolation": { "enabled": false,
    "grace_ms": 500, "override_after_ms": 0, "auto_override_after_ms": 9000,
    "min_disk_free_ratio": 0.2 })"));
  REQUIRE(set);
  CHECK_FALSE(set->isolation.enabled);
  CHECK(set->isolation.grace_ms == 500);
  CHECK(set->isolation.override_after_ms == 0);
  CHECK(set->isolation.auto_override_after_ms == 9000);
  CHECK(set->isolation.min_disk_free_ratio == doctest::Approx(0.2));
  for (auto [body, path] : {
           std::pair{R"(, "isolation": { "grace_ms": -1 })",
                     "isolation.grace_ms"},
           std::pair{R"(, "isolation": { "min_disk_free_ratio": 2 })",
                     "isolation.min_disk_free_ratio"},
           std::pair{R"(, "isolation": { "enabled": "yes" })",
                     "isolation.enabled"},
           std::pair{R"(, "isolation": { "grace": 1 })", "isolation.grace"},
           // Shorter than a keepalive period: every quiet moment a cut.
           std::pair{R"(, "isolation": { "silence_ms": 900 })",
                     "isolation.silence_ms"},
           std::pair{R"(, "transport": { "keepalive_ms": 500,
                         "dead_after_ms": 500 })",
                     "transport.dead_after_ms"},
       }) {
    auto bad = f.load(f.valid_body(body));
    REQUIRE_FALSE(bad);
    CHECK(bad.err().message().find(path) != std::string::npos);
  }
}

TEST_CASE("the services section: hosted services, strategies, errors "
          "named") {
  fixture f;
  auto none = f.load(f.valid_body());
  REQUIRE(none);
  CHECK(none->services.hosted.empty());
  CHECK(none->services.settle_ms == 10000);
  auto cfg = f.load(f.valid_body(R"(, "services": { "tick_ms": 100,
    "hosted": [ { "name": "orders", "kind": "counter" },
                { "name": "profile", "kind": "kv", "merge": "kv-union" } ] })"));
  REQUIRE(cfg);
  REQUIRE(cfg->services.hosted.size() == 2);
  CHECK(cfg->services.hosted[0].merge == "busiest");
  CHECK(cfg->services.hosted[1].merge == "kv-union");
  CHECK(cfg->services.tick_ms == 100);
  for (auto [body, path] : {
           std::pair{R"(, "services": { "hosted": [ { "name": "a",
             "kind": "queue" } ] })",
                     "services.hosted[0].kind"},
           std::pair{R"(, "services": { "hosted": [ { "name": "a",
             "kind": "kv" }, { "name": "a", "kind": "kv" } ] })",
                     "services.hosted[1].name"},
           std::pair{R"(, "services": { "hosted": [ { "name": "a/b",
             "kind": "kv" } ] })",
                     "services.hosted[0].name"},
           std::pair{R"(, "services": { "hosted": [ { "name": "a",
             "kind": "kv", "merge": "" } ] })",
                     "services.hosted[0].merge"},
           std::pair{R"(, "services": { "hosted": [ { "name": "a",
             "kind": "kv", "extra": 1 } ] })",
                     "services.hosted[0].extra"},
       }) {
    auto bad = f.load(f.valid_body(body));
    REQUIRE_FALSE(bad);
    CHECK(bad.err().message().find(path) != std::string::npos);
  }
}

TEST_CASE("the alerting section: defaults, channels, rules, route") {
  fixture f;
  auto plain = f.load(f.valid_body());
  REQUIRE(plain);
  // NodeDown, PeerDisconnected, ComponentDown, DiskSpaceLow,
  // StoreWriteFailing, NodeIsolated
  CHECK(plain->alerting.rules.rules.size() == 6);
  CHECK(plain->alerting.rules.inhibit.size() == 1);
  CHECK(plain->metrics.listen.empty());
  auto cfg = f.load(f.valid_body(R"(,
  "metrics": { "listen": "127.0.0.1:9464" },
  "alerting": {
    "eval_interval_ms": 1000,
    "channels": [
      { "name": "hook", "type": "webhook", "url": "http://127.0.0.1:9000/a" },
      { "name": "pager", "type": "command", "command": ["/bin/true", "-x"] },
      { "name": "file", "type": "file", "path": "alerts.jsonl" }
    ],
    "rules": [
      { "name": "QueueBacklog", "metric": "mycelium_transport_queue_depth",
        "condition": ">", "value": 100, "for_ms": 30000,
        "severity": "warning", "labels": { "team": "ops" },
        "summary": "{{peer}} queue at {{value}}" }
    ],
    "anomalies": [],
    "route": { "channel": "hook", "group_by": ["peer", "alertname"],
               "escalation_channel": "pager", "escalate_after_ms": 600000 }
  })"));
  REQUIRE(cfg);
  auto& a = cfg->alerting;
  CHECK(cfg->metrics.listen == "127.0.0.1:9464");
  REQUIRE(a.channels.size() == 4); // log is always there
  CHECK(a.channels[3].target == f.dir.path() + "/alerts.jsonl");
  REQUIRE(a.rules.rules.size() == 1);
  CHECK(a.rules.rules[0].cmp == alerting::comparison::gt);
  CHECK(a.rules.rules[0].extra == metrics::label_set{{"team", "ops"}});
  CHECK(a.rules.anomalies.empty());
  CHECK(a.rules.inhibit.size() == 1); // defaults kept when not given
  CHECK(a.rules.routing.channel == "hook");
  CHECK(a.rules.routing.escalate_after_ms == 600000);
}

TEST_CASE("bad alerting settings are refused with their JSON path") {
  fixture f;
  auto fails = [&](const std::string& section, const std::string& path) {
    auto r = f.load(f.valid_body(",\n  \"alerting\": " + section));
    REQUIRE_FALSE(r);
    CHECK(r.err().message().find(path) != std::string::npos);
    return r.err().message();
  };
  fails(R"({"rules": [{"name": "X", "metric": "m", "condition": "=>",
            "value": 1}]})",
        "alerting.rules[0].condition");
  fails(R"({"rules": [{"name": "X", "metric": "bad metric",
            "condition": ">", "value": 1}]})",
        "alerting.rules[0].metric");
  fails(R"({"rules": [{"name": "X", "metric": "m", "condition": ">",
            "value": 1, "severity": "urgent"}]})",
        "alerting.rules[0].severity");
  fails(R"({"route": {"channel": "nowhere"}})", "alerting.route.channel");
  fails(R"({"channels": [{"name": "h", "type": "webhook",
            "url": "https://x:1/"}]})",
        "alerting.channels[0].url");
  fails(R"({"channels": [{"name": "h", "type": "pigeon"}]})",
        "alerting.channels[0].type");
  fails(R"({"inhibit": [{"source": "alertname", "target": "a=b"}]})",
        "alerting.inhibit[0].source");
  fails(R"({"rules": [{"name": "X", "metric": "m", "condition": ">",
            "value": 1, "colour": "red"}]})",
        "alerting.rules[0].colour");
  auto r = f.load(f.valid_body(R"(, "metrics": {"listen": "nowhere"})"));
  REQUIRE_FALSE(r);
  CHECK(r.err().message().find("metrics.listen") != std::string::npos);
}
