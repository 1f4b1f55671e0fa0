#include "mycelium/gdb/merkle.hpp"

#include <doctest/doctest.h>

#include <deque>

using namespace mycelium;
using namespace mycelium::gdb;

namespace {

crdt_value lww(const std::string& v, int64_t at, const std::string& by) {
  crdt_value x;
  x.lww = lww_register::write(v, {at, 0}, by);
  return x;
}

/// Runs one exchange from `a`; returns (messages, bytes).
std::pair<int, size_t> reconcile(or_map& a, or_map& b) {
  std::deque<std::pair<bool, sync_message>> q; // (to b?, message)
  q.emplace_back(true, start_sync(a));
  int messages = 0;
  size_t bytes = 0;
  while (!q.empty()) {
    auto [to_b, msg] = std::move(q.front());
    q.pop_front();
    ++messages;
    auto wire = encode(msg);
    bytes += wire.size();
    auto decoded = decode(wire);
    REQUIRE(decoded);
    for (auto& answer : on_sync(to_b ? b : a, *decoded))
      q.emplace_back(!to_b, std::move(answer));
  }
  return {messages, bytes};
}

} // namespace

TEST_CASE("entries of every value type round-trip; bad bytes are refused") {
  or_map m;
  m.update("a", "k", lww("v", 5, "a"));
  crdt_value c;
  c.kind = crdt_value::type::counter;
  c.counter.add("a", -3);
  m.update("a", "c", c);
  crdt_value s;
  s.kind = crdt_value::type::set;
  s.set.add("a", "x");
  s.set.add("b", "y");
  s.set.remove("y");
  m.update("b", "s", s);
  crdt_value mv;
  mv.kind = crdt_value::type::mv;
  mv.mv.write("a", "1");
  m.update("a", "m", mv);
  m.remove("k");
  for (auto& [k, e] : m.entries) {
    CAPTURE(k);
    auto back = decode_entry(encode_entry(k, e));
    REQUIRE(back);
    CHECK(back->first == k);
    CHECK(back->second == e);
  }
  CHECK(!decode_entry("garbage"));
  CHECK(!decode(""));
  auto bytes = encode_entry("k", m.entries.at("k"));
  CHECK(!decode_entry(std::string_view{bytes}.substr(0, bytes.size() - 5)));
}

TEST_CASE("merkle anti-entropy makes diverged replicas equal, cheaply") {
  or_map base;
  for (int i = 0; i < 5000; ++i)
    base.update("base", "key-" + std::to_string(i),
                lww("v" + std::to_string(i), 1, "base"));
  auto a = base;
  auto b = base;
  // 1% diverged: updates on both sides, same and different keys, removes.
  for (int i = 0; i < 25; ++i) {
    a.update("a", "key-" + std::to_string(i * 7), lww("a", 2, "a"));
    b.update("b", "key-" + std::to_string(i * 11), lww("b", 3, "b"));
  }
  a.remove("key-1");
  b.update("b", "new-key", lww("n", 3, "b"));
  auto [messages, bytes] = reconcile(a, b);
  CHECK(a.entries == b.entries);
  CHECK(a.get("key-0")->lww.value == "b"); // both wrote; the later stamp
  CHECK(a.get("key-7")->lww.value == "a");
  CHECK_FALSE(b.contains("key-1"));
  CHECK(a.contains("new-key"));
  size_t full = 0;
  for (auto& [k, e] : a.entries)
    full += encode_entry(k, e).size();
  CAPTURE(bytes);
  CAPTURE(full);
  CHECK(bytes * 5 < full); // well under the full state
  // Equal replicas: one message of root hashes, nothing else.
  auto again = reconcile(a, b);
  CHECK(again.first == 1);
}
