#include "mycelium/services/service_core.hpp"

#include <doctest/doctest.h>

using namespace mycelium;
using namespace mycelium::services;

namespace {

instance make(std::string id, std::string host, uint64_t ops, int64_t last,
              std::string state = R"({"value":0})") {
  instance i;
  i.service = "s";
  i.id = std::move(id);
  i.host = std::move(host);
  i.host_name = i.host;
  i.ops = ops;
  i.last_write_ms = last;
  i.state = std::move(state);
  i.data_bytes = i.state.size();
  return i;
}

} // namespace

TEST_CASE("records round-trip; damaged ones are refused with the cause") {
  auto i = make("a-1-1", "A", 3, 100, R"({"value":3})");
  i.lineage = {{"b-0-1", R"({"value":1})", 1}};
  i.absorbed = {"c-2-1"};
  auto back = decode(encode(i));
  REQUIRE(back);
  CHECK(encode(*back) == encode(i));
  CHECK(record_key(i) == "svc/s/a-1-1");
  for (auto bad : {"", "[]", R"({"service":"s"})",
                   R"({"service":"s","id":"x","host":"h","host_name":"h",)"
                   R"("started_ms":0,"ops":-1,"data_bytes":0,)"
                   R"("last_write_ms":0,"state":"{}","lineage":[],)"
                   R"("absorbed":[],"frozen":false})",
                   R"({"service":"s","id":"x","host":"h","host_name":"h",)"
                   R"("started_ms":0,"ops":1,"data_bytes":0,)"
                   R"("last_write_ms":0,"state":"{}","lineage":"x",)"
                   R"("absorbed":[],"frozen":false})"}) {
    auto r = decode(bad);
    REQUIRE_FALSE(r);
    CHECK(r.err().code() == static_cast<uint8_t>(errc::bad_record));
  }
  auto slash = i;
  slash.id = "a/b";
  CHECK_FALSE(decode(encode(slash)));
}

TEST_CASE("counter and kv operations; bad ones refused, reads change "
          "nothing") {
  auto s = initial_state("counter");
  auto r = apply("counter", s, {"add", "5"});
  REQUIRE(r);
  CHECK(r->changed);
  CHECK(r->answer == "5");
  r = apply("counter", r->state, {"add", "-2"});
  CHECK(r->answer == "3");
  auto get = apply("counter", r->state, {"get"});
  CHECK_FALSE(get->changed);
  CHECK(get->answer == "3");
  for (auto bad : std::vector<std::vector<std::string>>{
           {"add", "x"}, {"add", "1.5"}, {"add"}, {"mul", "2"}, {}}) {
    auto b = apply("counter", r->state, bad);
    REQUIRE_FALSE(b);
    CHECK(b.err().code() == static_cast<uint8_t>(errc::bad_operation));
  }
  auto kv = apply("kv", initial_state("kv"), {"put", "k", "v"});
  REQUIRE(kv);
  CHECK(apply("kv", kv->state, {"get", "k"})->answer == "v");
  CHECK(apply("kv", kv->state, {"list"})->answer == "k");
  CHECK_FALSE(apply("kv", kv->state, {"get", "nope"}));
  CHECK(apply("kv", kv->state, {"del", "k"})->state == "{}");
  CHECK_FALSE(apply("queue", "{}", {"get"}));
  auto latin1 = apply("kv", "{}", {"put", "caf\xe9", "v"});
  REQUIRE_FALSE(latin1);
  CHECK(latin1.err().message().find("UTF-8") != std::string::npos);
  CHECK_FALSE(apply("kv", "not json", {"list"}));
}

TEST_CASE("the winner of a split: busiest by ops then data then last "
          "write; newest by last write; symmetric") {
  auto a = make("a", "A", 10, 100);
  auto b = make("b", "B", 4, 900);
  CHECK(winner(a, b, "busiest").id == "a");
  CHECK(winner(b, a, "busiest").id == "a");
  CHECK(winner(a, b, "newest").id == "b");
  CHECK(winner(b, a, "newest").id == "b");
  CHECK(winner(a, b, "counter-sum").id == "a"); // merges: busiest takes it
  auto c = make("c", "C", 10, 100);
  CHECK(winner(a, c, "busiest").id == winner(c, a, "busiest").id);
}

TEST_CASE("placement: the rendezvous owner starts a missing service, from "
          "the newest unreachable record, and only once settled") {
  std::vector<service_spec> specs{{"s", "counter", "busiest"}};
  std::set<std::string> live{"A", "B", "C"};
  auto who = owner("s", live);
  REQUIRE(!who.empty());
  CHECK(owner("s", {"C", "B", "A"}) == who);
  for (auto& n : live) {
    placement_core core{n, specs};
    view v;
    v.live = live;
    auto fx = core.decide(v);
    CHECK(fx.starts.size() == (n == who ? 1u : 0u));
    v.may_start = false;
    CHECK(core.decide(v).starts.empty());
  }
  placement_core core{who, specs};
  view v;
  v.live = live;
  v.records = {make("old", "Z", 5, 100), make("older", "Y", 9, 50)};
  auto fx = core.decide(v);
  REQUIRE(fx.starts.size() == 1);
  REQUIRE(fx.starts[0].from);
  CHECK(fx.starts[0].from->id == "old");
  // A reachable instance: nothing to start.
  v.records.push_back(make("live", "B", 0, 10));
  CHECK(core.decide(v).starts.empty());
}

TEST_CASE("a split: built-in strategies terminate the loser on its host; "
          "merge strategies merge on the winner's host first") {
  std::vector<service_spec> busiest{{"s", "counter", "busiest"}};
  view v;
  v.live = {"A", "B"};
  v.records = {make("a", "A", 10, 100), make("b", "B", 4, 900)};
  placement_core on_a{"A", busiest}, on_b{"B", busiest};
  CHECK(on_a.decide(v).terminations.empty());
  auto fx = on_b.decide(v);
  REQUIRE(fx.terminations.size() == 1);
  CHECK(fx.terminations[0].id == "b");
  CHECK(fx.terminations[0].reason.find("busiest") != std::string::npos);
  std::vector<service_spec> summed{{"s", "counter", "counter-sum"}};
  placement_core m_a{"A", summed}, m_b{"B", summed};
  // The loser freezes first: no merge of a state that may still change.
  CHECK(m_a.decide(v).merges.empty());
  auto freeze = m_b.decide(v);
  REQUIRE(freeze.freezes.size() == 1);
  CHECK(freeze.freezes[0].id == "b");
  CHECK(freeze.freezes[0].on);
  CHECK(freeze.terminations.empty());
  v.records[1].frozen = true;
  auto merge = m_a.decide(v);
  REQUIRE(merge.merges.size() == 1);
  CHECK(merge.merges[0].winner == "a");
  CHECK(merge.merges[0].loser.id == "b");
  CHECK(m_b.decide(v).terminations.empty()); // not absorbed yet
  v.records[0].absorbed = {"b"};
  CHECK(m_a.decide(v).merges.empty());
  auto gone = m_b.decide(v);
  REQUIRE(gone.terminations.size() == 1);
  CHECK(gone.terminations[0].reason.find("merged into a") != std::string::npos);
  // Absorbed records of unreachable hosts are cleaned up by the winner.
  v.records.push_back(make("z", "Z", 1, 1));
  v.records[0].absorbed.push_back("z");
  auto clean = m_a.decide(v);
  // A frozen instance with no split left takes operations again.
  view alone;
  alone.live = {"A", "B"};
  alone.records = {make("a", "A", 10, 100)};
  alone.records[0].frozen = true;
  auto thaw = m_a.decide(alone);
  REQUIRE(thaw.freezes.size() == 1);
  CHECK_FALSE(thaw.freezes[0].on);
  CHECK(clean.stale_records == std::vector<std::string>{"svc/s/z"});
}

TEST_CASE("merges from the common ancestor: counter-sum adds both sides' "
          "changes, kv-union keeps both sides' keys") {
  auto w = make("w", "A", 12, 200, R"({"value":15})");
  auto l = make("l", "B", 11, 300, R"({"value":17})");
  l.lineage = {{"w", R"({"value":10})", 10}};
  auto base = common_ancestor("counter", w, l);
  CHECK(base.state == R"({"value":10})");
  auto sum = merge_counter_sum(w, l, base);
  REQUIRE(sum);
  CHECK(*sum == R"({"value":22})");
  auto m = absorb(w, l, *sum, base, 400);
  CHECK(m.ops == 13);
  CHECK(m.absorbed == std::vector<std::string>{"l"});
  CHECK(m.last_write_ms == 400);
  // Unrelated instances: from the initial state.
  auto fresh = make("f", "C", 2, 1, R"({"value":2})");
  CHECK(*merge_counter_sum(w, fresh, common_ancestor("counter", w, fresh)) ==
        R"({"value":17})");
  auto kw = make("kw", "A", 3, 1, R"({"name":"grace","city":"paris"})");
  auto kl = make("kl", "B", 3, 1, R"({"name":"ada","lang":"en"})");
  kl.lineage = {{"kw", R"({"name":"ada","city":"paris"})", 2}};
  auto kv = merge_kv_union(kw, kl, common_ancestor("kv", kw, kl));
  REQUIRE(kv);
  CHECK(*kv == R"({"lang":"en","name":"grace"})");
  CHECK_FALSE(merge_counter_sum(make("x", "A", 0, 0, "[]"), l, base));
}

TEST_CASE("the common ancestor over a chain of failovers: a fork of a fork "
          "merges the original from where the chain left it") {
  // o (10) -> f1 forked at 10 (+7 -> 17) -> f2 forked from f1 at 17 (+3).
  auto o = make("o", "A", 2, 100, R"({"value":15})"); // 10 then +5
  auto f1 = make("f1", "B", 2, 200, R"({"value":17})");
  f1.lineage = {{"o", R"({"value":10})", 1}};
  auto f2 = make("f2", "C", 3, 300, R"({"value":20})");
  f2.lineage = {{"o", R"({"value":10})", 1}, {"f1", R"({"value":17})", 2}};
  CHECK(common_ancestor("counter", f2, o).state == R"({"value":10})");
  CHECK(common_ancestor("counter", o, f2).state == R"({"value":10})");
  CHECK(common_ancestor("counter", f2, f1).state == R"({"value":17})");
  // f2 absorbs f1 (nothing new since the fork), then o (+5): 25.
  auto step = absorb(
      f2, f1, *merge_counter_sum(f2, f1, common_ancestor("counter", f2, f1)),
      common_ancestor("counter", f2, f1), 400);
  CHECK(step.state == R"({"value":20})");
  auto all = merge_counter_sum(step, o, common_ancestor("counter", step, o));
  CHECK(*all == R"({"value":25})");
  // Two forks of the same instance at different times: the earlier point.
  auto g1 = make("g1", "D", 3, 1, R"({"value":12})");
  g1.lineage = {{"o", R"({"value":10})", 1}};
  auto g2 = make("g2", "E", 3, 1, R"({"value":18})");
  g2.lineage = {{"o", R"({"value":15})", 2}};
  CHECK(common_ancestor("counter", g1, g2).state == R"({"value":10})");
}

TEST_CASE("a merge strategy's answer is stored compact, or refused when it "
          "is no JSON object") {
  auto ok = merged_state(R"({ "value" : 22 })");
  REQUIRE(ok);
  CHECK(*ok == R"({"value":22})");
  for (auto bad : {"", "22", "[1]", "{oops", "\"text\""}) {
    auto r = merged_state(bad);
    REQUIRE_FALSE(r);
    CHECK(r.err().message().find("not a JSON object") != std::string::npos);
  }
}
