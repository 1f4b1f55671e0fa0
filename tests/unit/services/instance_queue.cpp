#include "mycelium/services/instance_queue.hpp"

#include <doctest/doctest.h>

using namespace mycelium;
using namespace mycelium::services;

namespace {

instance counter_at(int64_t value, uint64_t ops) {
  instance i;
  i.service = "tally";
  i.id = "a-1-1";
  i.host = i.host_name = "A";
  i.ops = ops;
  i.state = R"({"value":)" + std::to_string(value) + "}";
  return i;
}

job call(uint64_t ticket, std::vector<std::string> op) {
  job j;
  j.ticket = ticket;
  j.op = std::move(op);
  return j;
}

} // namespace

TEST_CASE("an instance's jobs run one at a time: each write is reported "
          "before the next job starts") {
  instance_queue q{counter_at(0, 0), "counter"};
  q.push(call(1, {"add", "5"}));
  q.push(call(2, {"get"}));
  auto s = q.next(1000);
  REQUIRE(s.what == step::type::write);
  CHECK(s.j.ticket == 1);
  CHECK(s.answer == "5");
  CHECK(s.next.ops == 1);
  // While the record is being written, nothing else starts.
  CHECK(q.next(1001).what == step::type::idle);
  CHECK(q.writing());
  q.persisted(s.next);
  CHECK(q.record().ops == 1);
  // A read changes nothing: answered without a write.
  s = q.next(1002);
  CHECK(s.what == step::type::answer);
  CHECK(s.j.ticket == 2);
  CHECK(s.answer == "5");
  CHECK_FALSE(q.writing());
  CHECK(q.next(1003).what == step::type::idle);
}

TEST_CASE("a refused write leaves the instance as it was; a bad operation "
          "is a bad request") {
  instance_queue q{counter_at(3, 3), "counter"};
  q.push(call(1, {"add", "2"}));
  q.push(call(2, {"launch"}));
  auto s = q.next(1000);
  REQUIRE(s.what == step::type::write);
  q.failed();
  CHECK(q.record().ops == 3);
  CHECK(q.record().state == R"({"value":3})");
  s = q.next(1001);
  CHECK(s.what == step::type::refuse);
  CHECK(s.bad_request);
  CHECK(s.j.ticket == 2);
}

TEST_CASE("a frozen instance refuses calls until unfrozen; a merge computed "
          "before a later operation is stale and dropped") {
  instance_queue q{counter_at(10, 4), "counter"};
  job freeze;
  freeze.what = job::type::freeze;
  q.push(freeze);
  q.push(call(7, {"add", "1"}));
  auto s = q.next(1000);
  REQUIRE(s.what == step::type::write);
  CHECK(s.next.frozen);
  q.persisted(s.next);
  s = q.next(1001);
  CHECK(s.what == step::type::refuse);
  CHECK_FALSE(s.bad_request);
  CHECK(s.error.find("frozen") != std::string::npos);
  job thaw;
  thaw.what = job::type::unfreeze;
  q.push(thaw);
  s = q.next(1002);
  REQUIRE(s.what == step::type::write);
  q.persisted(s.next);
  CHECK_FALSE(q.record().frozen);
  // A merge whose strategy saw 4 operations, after a fifth: stale.
  q.push(call(8, {"add", "1"}));
  s = q.next(1003);
  REQUIRE(s.what == step::type::write);
  q.persisted(s.next);
  job stale;
  stale.what = job::type::merge;
  stale.loser = counter_at(7, 2);
  stale.loser->id = "b-1-1";
  stale.merged_state = R"({"value":99})";
  stale.merged_at_ops = 4;
  q.push(stale);
  CHECK(q.next(1004).what == step::type::drop);
  // The same merge at the current count is written: the merged state.
  stale.merged_at_ops = q.record().ops;
  q.push(stale);
  s = q.next(1005);
  REQUIRE(s.what == step::type::write);
  CHECK(s.next.state == R"({"value":99})");
  q.persisted(s.next);
  // Terminated: every job not started comes back to be answered.
  q.push(call(9, {"get"}));
  q.push(call(10, {"get"}));
  auto left = q.drain();
  REQUIRE(left.size() == 2);
  CHECK(left[0].ticket == 9);
  CHECK(q.next(1006).what == step::type::idle);
}
