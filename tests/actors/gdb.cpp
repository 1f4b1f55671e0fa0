// The Global Database shell's wiring under CAF's deterministic scheduler:
// its start, typed requests, the isolation controller's mode, and a
// restart that reloads what was persisted.

#include "fixture.hpp"

#include "mycelium/actors/gdb.hpp"
#include "mycelium/actors/isolation.hpp"
#include "mycelium/crypto/identity.hpp"
#include "mycelium/json/json.hpp"

using namespace mycelium;
using namespace mycelium::actors;
using supervision::strategy;

namespace {

struct gdb_fixture : test::actor_fixture {
  std::shared_ptr<node_context> ctx = std::make_shared<node_context>();

  gdb_fixture() {
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

TEST_CASE_FIXTURE(gdb_fixture,
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
