#include "mycelium/gdb/database_core.hpp"

#include <doctest/doctest.h>

using namespace mycelium;
using namespace mycelium::gdb;

TEST_CASE("writes of every type, reads, lists and deletes") {
  database_core db{"a", {}};
  REQUIRE(db.put("user/1", "ada", crdt_value::type::lww, 1000));
  REQUIRE(db.put("hits", "5", crdt_value::type::counter, 1000));
  REQUIRE(db.put("hits", "-2", crdt_value::type::counter, 1000));
  REQUIRE(db.put("tags", "x", crdt_value::type::set, 1000));
  REQUIRE(db.put("tags", "y", crdt_value::type::set, 1000));
  REQUIRE(db.put("doc", "v1", crdt_value::type::mv, 1000));
  CHECK(db.get("user/1")->values == std::vector<std::string>{"ada"});
  CHECK(db.get("hits")->counter == 3);
  CHECK(db.get("tags")->values == std::vector<std::string>{"x", "y"});
  CHECK(db.get("doc")->values == std::vector<std::string>{"v1"});
  CHECK(db.list("") ==
        std::vector<std::string>{"doc", "hits", "tags", "user/1"});
  CHECK(db.list("user/") == std::vector<std::string>{"user/1"});
  REQUIRE(db.del("user/1"));
  CHECK_FALSE(db.get("user/1"));
  CHECK(db.list("user/").empty());
}

TEST_CASE("bad writes are refused with the cause and change nothing") {
  database_core db{"a", {8, 16}};
  REQUIRE(db.put("n", "1", crdt_value::type::counter, 1));
  auto before = db.map();
  auto code = [](const auto& r) { return static_cast<int>(r.err().code()); };
  auto r = db.put("", "v", crdt_value::type::lww, 1);
  CHECK(code(r) == static_cast<int>(gdb_errc::bad_key));
  r = db.put("much-too-long", "v", crdt_value::type::lww, 1);
  CHECK(code(r) == static_cast<int>(gdb_errc::bad_key));
  r = db.put("a\nb", "v", crdt_value::type::lww, 1);
  CHECK(code(r) == static_cast<int>(gdb_errc::bad_key));
  r = db.put("k", std::string(17, 'x'), crdt_value::type::lww, 1);
  CHECK(code(r) == static_cast<int>(gdb_errc::too_large));
  r = db.put("n", "text", crdt_value::type::lww, 1);
  CHECK(code(r) == static_cast<int>(gdb_errc::type_mismatch));
  CHECK(r.err().to_string().find("counter") != std::string::npos);
  r = db.put("n", "1.5", crdt_value::type::counter, 1);
  CHECK(code(r) == static_cast<int>(gdb_errc::bad_value));
  CHECK(code(db.del("missing")) == static_cast<int>(gdb_errc::not_found));
  CHECK(!parse_type("blob"));
  CHECK(db.map() == before);
}

TEST_CASE("read-only mode serves reads and refuses writes distinctly") {
  database_core db{"a", {}};
  REQUIRE(db.put("k", "v", crdt_value::type::lww, 1));
  db.set_read_only(true);
  auto r = db.put("k", "w", crdt_value::type::lww, 2);
  REQUIRE(!r);
  CHECK(r.err().code() == static_cast<int>(gdb_errc::read_only));
  CHECK(db.del("k").err().code() == static_cast<int>(gdb_errc::read_only));
  CHECK(db.get("k")->values == std::vector<std::string>{"v"});
  db.set_read_only(false);
  CHECK(db.put("k", "w", crdt_value::type::lww, 2));
}

TEST_CASE("deltas of one replica make another equal") {
  database_core a{"a", {}};
  database_core b{"b", {}};
  std::vector<or_map> deltas;
  deltas.push_back(*a.put("x", "1", crdt_value::type::lww, 10));
  deltas.push_back(*a.put("c", "4", crdt_value::type::counter, 10));
  deltas.push_back(*b.put("c", "6", crdt_value::type::counter, 10));
  deltas.push_back(*a.del("x"));
  for (auto& d : deltas) {
    a.apply(d);
    b.apply(d);
  }
  CHECK(a.map().entries == b.map().entries);
  CHECK(a.get("c")->counter == 10);
  CHECK_FALSE(b.get("x"));
}
