// Wiring tests of subsystem shells under CAF's deterministic scheduler: a
// start, requests, the messages they exchange, and a restart that reloads
// what was persisted. Protocol logic is tested in the cores' unit tests;
// these check only that the shell performs it.

#include "fixture.hpp"

#include "mycelium/actors/gdb.hpp"
#include "mycelium/actors/isolation.hpp"
#include "mycelium/actors/membership.hpp"
#include "mycelium/crypto/identity.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/store/state_store.hpp"

using namespace mycelium;
using namespace mycelium::actors;
using supervision::strategy;

namespace {

struct shell_fixture : test::actor_fixture {
  std::shared_ptr<node_context> ctx = std::make_shared<node_context>();

  shell_fixture() {
    ctx->cfg.name = "n1";
    ctx->cfg.data_dir = dir.path();
    ctx->db = db;
    ctx->boot = "boot-g";
    ctx->identity = std::make_shared<crypto::node_identity>(
        crypto::node_identity::generate());
    ctx->wall_clock = [this] { return wall; };
  }

  /// Fires every pending timer until nothing more runs.
  void settle() {
    for (int i = 0; i < 20; ++i) {
      sched->trigger_timeouts();
      if (!sched->run())
        return;
    }
  }

  caf::actor gdb() {
    auto a = registered(*sys, "gdb");
    REQUIRE(a);
    return a;
  }
};

} // namespace

TEST_CASE_FIXTURE(shell_fixture,
                  "gdb: writes wait for the isolation controller's mode, are "
                  "persisted before the answer and survive a restart") {
  // The Global Database alone: the controller has not told its mode.
  auto node = spawn(options(strategy::one_for_one, {gdb_child(ctx)}));
  auto refused =
      ask_error(gdb(), put_atom::value, std::string{"k"}, std::string{"v"});
  CHECK(describe(refused).find("does not know yet whether it is isolated") !=
        std::string::npos);
  CHECK(ask<gdb_rows>(gdb(), scan_atom::value, std::string{}).texts.empty());
  // The controller starts later (as siblings may): the next look finds it.
  spawn(options(strategy::one_for_one, {isolation_child(ctx)}));
  settle();
  CHECK(ask<bool>(gdb(), put_atom::value, std::string{"k"}, std::string{"v"}));
  CHECK(ask<bool>(gdb(), put_atom::value, std::string{"n"}, std::string{"1"}));
  CHECK(ask<bool>(gdb(), del_atom::value, std::string{"n"}));
  auto rows = ask<gdb_rows>(gdb(), scan_atom::value, std::string{});
  CHECK(rows.texts ==
        std::vector<std::pair<std::string, std::string>>{{"k", "v"}});
  // A crash: the new incarnation has the entry from the store and, once
  // the controller told it the mode again, takes writes.
  auto before = gdb();
  crash(node, "gdb");
  settle();
  CHECK(gdb() != before);
  rows = ask<gdb_rows>(gdb(), scan_atom::value, std::string{});
  CHECK(rows.texts ==
        std::vector<std::pair<std::string, std::string>>{{"k", "v"}});
  CHECK(ask<bool>(gdb(), put_atom::value, std::string{"k"}, std::string{"w"}));
  // The console's command reads the same data.
  auto got = json::parse(
      ask<std::string>(gdb(), db_atom::value, std::string{R"(["get", "k"])"}));
  CHECK(got["value"] == "w");
}

TEST_CASE_FIXTURE(shell_fixture,
                  "isolation: a node whose only peer failed turns read-only "
                  "after the grace period, tells its subscribers, and a "
                  "restarted controller comes back isolated") {
  ctx->cfg.isolation.grace_ms = 1000;
  ctx->cfg.isolation.silence_ms = 0; // membership alone decides here
  // The spore tracker's answer: it remembers every node met (n2 here), so
  // a restarted controller knows whom it knows before membership tells.
  auto spores = sys->spawn([]() -> caf::behavior {
    return {[](known_atom) { return known_nodes{{{"b1", "n2", {"h:2"}}}}; }};
  });
  register_as(*sys, "spores", spores);
  auto node = spawn(options(strategy::one_for_one, {isolation_child(ctx)}));
  auto iso = registered(*sys, "isolation");
  REQUIRE(iso);
  auto status = [&] {
    return json::parse(
        ask<std::string>(iso, isolation_atom::value, std::string{"[]"}));
  };
  CHECK(status()["mode"] == "connected");
  // A subscriber hears the mode at once.
  (*self)->send(iso, subscribe_atom::value);
  sched->run();
  bool read_only = true;
  (*self)->receive(
      [&](mode_atom, bool ro, const std::string&) { read_only = ro; },
      caf::after(std::chrono::seconds(0)) >> [] { FAIL_CHECK("no mode"); });
  CHECK_FALSE(read_only);
  // Its only peer fails: alone, then isolated once the grace has passed.
  membership::event ev;
  ev.what = membership::event::type::failed;
  ev.member.id = "b1";
  ev.member.name = "n2";
  ev.member.address = "h:2";
  ev.member.st = membership::state::failed;
  (*self)->send(iso, member_atom::value, ev);
  sched->run();
  for (int i = 0; i < 30 && status()["mode"] != "isolated"; ++i) {
    wall += 100;
    sched->trigger_timeouts();
    sched->run();
  }
  auto doc = status();
  CHECK(doc["mode"] == "isolated");
  CHECK(doc["unreachable"][0]["name"] == "n2");
  read_only = false;
  (*self)->receive(
      [&](mode_atom, bool ro, const std::string&) { read_only = ro; },
      caf::after(std::chrono::seconds(0)) >>
          [] { FAIL_CHECK("no change told"); });
  CHECK(read_only);
  // A crash: the new incarnation restores the stored mode before anything.
  crash(node, "isolation");
  settle();
  iso = registered(*sys, "isolation");
  CHECK(status()["mode"] == "isolated");
  caf::anon_send_exit(spores, caf::exit_reason::kill);
}

TEST_CASE_FIXTURE(shell_fixture,
                  "membership: a peer the transport connected joins, "
                  "subscribers get the typed event and late ones the table, "
                  "and a restart starts from the stored incarnation") {
  ctx->cfg.listen = {"127.0.0.1", 7001};
  // An incarnation stored by an earlier run (a refutation persists it).
  {
    auto states = *store::state_store::open(db);
    REQUIRE(states.save("membership", "incarnation", "4"));
  }
  auto node = spawn(options(strategy::one_for_one, {membership_child(ctx)}));
  auto members = [&] {
    return json::parse(
        ask<std::string>(registered(*sys, "membership"), members_atom::value));
  };
  CHECK(members()["members"].empty());
  CHECK(members()["self"]["incarnation"] == 4);
  (*self)->send(registered(*sys, "membership"), subscribe_atom::value);
  sched->run();
  // The transport reports a peer past its handshake.
  (*self)->send(registered(*sys, "membership"), contact_atom::value,
                std::string{"b1b1b1b1"}, std::string{"127.0.0.1:7002"},
                std::string{"n2"});
  sched->run();
  std::optional<membership::event> got;
  (*self)->receive([&](member_atom, const membership::event& ev) { got = ev; },
                   caf::after(std::chrono::seconds(0)) >> [] {});
  REQUIRE(got);
  CHECK(got->member.id == "b1b1b1b1");
  CHECK(got->member.name == "n2");
  CHECK(got->member.st == membership::state::alive);
  auto doc = members();
  REQUIRE(doc["members"].size() == 1);
  CHECK(doc["members"][0]["name"] == "n2");
  // A late subscriber is told the table.
  caf::scoped_actor late{*sys};
  late->send(registered(*sys, "membership"), subscribe_atom::value);
  sched->run();
  std::optional<membership::event> told;
  late->receive([&](member_atom, const membership::event& ev) { told = ev; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  REQUIRE(told);
  CHECK(told->member.name == "n2");
  CHECK(told->what == membership::event::type::joined);
  // A crash: the new incarnation reads its incarnation from the store and
  // starts with an empty table (the transport's peers are asked again).
  auto before = registered(*sys, "membership");
  crash(node, "membership");
  settle();
  CHECK(registered(*sys, "membership") != before);
  CHECK(members()["members"].empty());
  CHECK(members()["self"]["incarnation"] == 4);
}
