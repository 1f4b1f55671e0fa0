#include "mycelium/membership/codec.hpp"

#include <doctest/doctest.h>

using namespace mycelium::membership;

TEST_CASE("membership messages round-trip every field") {
  message m;
  m.kind = message::type::ping_req;
  m.seq = 77;
  m.target = "t";
  m.target_address = "127.0.0.1:9";
  m.updates.push_back({"x", "x:1", "ex", 4, state::suspect, "b"});
  m.updates.push_back({"y", "y:1", "why", 9, state::left});
  auto back = decode(encode(m));
  REQUIRE(back);
  CHECK(back->kind == m.kind);
  CHECK(back->seq == 77);
  CHECK(back->target == "t");
  CHECK(back->target_address == "127.0.0.1:9");
  REQUIRE(back->updates.size() == 2);
  auto& x = back->updates[0];
  CHECK(x.id == "x");
  CHECK(x.address == "x:1");
  CHECK(x.name == "ex");
  CHECK(x.incarnation == 4);
  CHECK(x.st == state::suspect);
  CHECK(x.accuser == "b");
  CHECK(back->updates[1].accuser.empty());
  CHECK(back->updates[1].st == state::left);
}

TEST_CASE("malformed membership messages are refused with the cause") {
  CHECK(!decode(""));
  CHECK(!decode("not a flatbuffer at all"));
  message m;
  m.updates.push_back({"", "a:1", "a", 1, state::alive});
  auto empty_id = decode(encode(m));
  REQUIRE(!empty_id);
  CHECK(empty_id.err().to_string().find("member id") != std::string::npos);
  auto bytes = encode(message{});
  auto cut = decode(std::string_view{bytes}.substr(0, bytes.size() / 2));
  CHECK(!cut);
}
