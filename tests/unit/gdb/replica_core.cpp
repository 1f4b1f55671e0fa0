#include "mycelium/gdb/replica_core.hpp"

#include <doctest/doctest.h>

#include <deque>

using namespace mycelium;
using namespace mycelium::gdb;

namespace {

/// Delivers every send between the replicas until nothing is in flight;
/// returns the number of messages.
size_t exchange(std::map<std::string, replica_core*> replicas,
                std::deque<std::pair<std::string, replica_effects>> pending) {
  size_t messages = 0;
  while (!pending.empty()) {
    auto [from, fx] = std::move(pending.front());
    pending.pop_front();
    for (auto& [to, msg] : fx.sends) {
      ++messages;
      auto decoded = decode(encode(msg));
      REQUIRE(decoded);
      pending.emplace_back(to, replicas.at(to)->on_message(from, *decoded, 5));
    }
  }
  return messages;
}

} // namespace

TEST_CASE("a local write persists its key and ships its delta to every peer") {
  replica_core a{"a", {}, 1};
  a.peer_up("b", "node-b");
  a.peer_up("c", "node-c");
  auto fx = a.put("k", "v", crdt_value::type::lww, 1000);
  REQUIRE(fx);
  CHECK(fx->persist == std::set<std::string>{"k"});
  REQUIRE(fx->sends.size() == 2);
  CHECK(fx->sends[0].first == "b");
  CHECK(fx->sends[1].first == "c");
  CHECK(fx->sends[0].second.entries.size() == 1);
  // A refused write has no effects at all.
  CHECK_FALSE(a.put("", "v", crdt_value::type::lww, 1000));
  a.peer_down("b");
  CHECK(a.peers().size() == 1);
}

TEST_CASE("anti-entropy brings two replicas to the same entries") {
  replica_core a{"a", {}, 1};
  replica_core b{"b", {}, 2};
  // Written while they did not know each other: no deltas shipped.
  for (int i = 0; i < 50; ++i)
    REQUIRE(a.put("a/" + std::to_string(i), "x", crdt_value::type::lww, 1));
  REQUIRE(b.put("b/0", "y", crdt_value::type::lww, 1));
  REQUIRE(b.put("shared", "3", crdt_value::type::counter, 1));
  REQUIRE(a.put("shared", "4", crdt_value::type::counter, 1));
  CHECK(a.on_tick(2).sends.empty()); // alone: nothing to do
  a.peer_up("b", "b");
  b.peer_up("a", "a");
  auto tick = a.on_tick(3);
  REQUIRE(tick.sends.size() == 1);
  CHECK(tick.sends[0].first == "b");
  exchange({{"a", &a}, {"b", &b}}, {{"a", tick}});
  CHECK(a.db().map().entries == b.db().map().entries);
  CHECK(b.db().get("shared")->counter == 7);
  CHECK(a.reconciled().at("b") == 5); // entries merged at 5
  CHECK(b.reconciled().at("a") == 5);
}

TEST_CASE("a write after seeing a later-stamped value still wins") {
  replica_core a{"a", {}, 1};
  replica_core b{"b", {}, 2};
  a.peer_up("b", "b");
  // b's clock runs 5 s ahead of a's.
  auto fx = b.put("k", "from-b", crdt_value::type::lww, 10000);
  REQUIRE(fx);
  b.peer_up("a", "a");
  exchange({{"a", &a}, {"b", &b}}, {{"b", b.sync_with("a", 10000)}});
  REQUIRE(a.db().get("k")->values.front() == "from-b");
  REQUIRE(a.put("k", "from-a", crdt_value::type::lww, 5000));
  CHECK(a.db().get("k")->values.front() == "from-a");
}

TEST_CASE("a step is two-phase: rows to store, and an abort puts every "
          "changed key back as it was") {
  replica_core a{"a", {}, 1};
  auto first = a.put("k", "v1", crdt_value::type::lww, 1000);
  REQUIRE(first);
  // The rows are the stored form of the changed entries.
  REQUIRE(first->rows.size() == 1);
  CHECK(first->rows[0].first == "k");
  auto stored = decode_entry(first->rows[0].second);
  REQUIRE(stored);
  CHECK(stored->second == a.db().map().entries.at("k"));
  CHECK_FALSE(first->undo.at("k").has_value()); // new key
  // A second write that cannot be persisted: aborted, the first stays.
  auto second = a.put("k", "v2", crdt_value::type::lww, 2000);
  REQUIRE(second);
  CHECK(a.db().get("k")->values.front() == "v2");
  a.abort(*second);
  CHECK(a.db().get("k")->values.front() == "v1");
  CHECK(a.db().map().entries.at("k") == stored->second);
  // A new key aborted is gone again; a delete aborted is undone.
  auto fresh = a.put("n", "x", crdt_value::type::lww, 3000);
  REQUIRE(fresh);
  a.abort(*fresh);
  CHECK(a.db().map().entries.count("n") == 0);
  auto gone = a.del("k");
  REQUIRE(gone);
  CHECK_FALSE(a.db().get("k"));
  a.abort(*gone);
  CHECK(a.db().get("k")->values.front() == "v1");
  // A later write uses a new dot: the causal context kept its advance.
  auto third = a.put("k", "v3", crdt_value::type::lww, 4000);
  REQUIRE(third);
  CHECK(a.db().get("k")->values.front() == "v3");
}

TEST_CASE("merged entries from a peer are aborted as a whole when they "
          "cannot be persisted") {
  replica_core a{"a", {}, 1};
  replica_core b{"b", {}, 2};
  REQUIRE(a.put("shared", "from-a", crdt_value::type::lww, 1000));
  auto fx = b.put("shared", "from-b", crdt_value::type::lww, 5000);
  REQUIRE(fx);
  REQUIRE(b.put("only-b", "1", crdt_value::type::lww, 5000));
  b.peer_up("a", "node-a");
  // b's full state, as anti-entropy would send it.
  sync_message all;
  all.kind = sync_message::type::entries_final;
  for (auto& [k, e] : b.db().map().entries)
    all.entries.emplace_back(k, e);
  auto before = a.db().map().entries;
  auto merged = a.on_message("b", all, 6000);
  CHECK(merged.persist == std::set<std::string>{"only-b", "shared"});
  CHECK(merged.rows.size() == 2);
  CHECK(a.db().get("shared")->values.front() == "from-b");
  a.abort(merged);
  CHECK(a.db().map().entries == before);
}
