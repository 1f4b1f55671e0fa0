#include "mycelium/store/database.hpp"
#include "mycelium/store/state_store.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace mycelium;
using store::database;
using store::errc;

namespace {

errc code_of(const error& e) {
  return static_cast<errc>(e.code());
}

int64_t count_rows(database& db, const std::string& table) {
  int64_t n = -1;
  auto st = db.query("SELECT count(*) FROM " + table, nullptr,
                     [&](const store::statement& s) { n = s.column_int(0); });
  REQUIRE(st);
  return n;
}

} // namespace

TEST_CASE("a new database opens in WAL mode with Mycelium's application id") {
  test::temp_dir dir;
  auto db = database::open(dir / "m.db");
  REQUIRE(db);
  std::string mode;
  int64_t app = 0;
  REQUIRE((*db)->query(
      "PRAGMA journal_mode", nullptr,
      [&](const store::statement& s) { mode = s.column_text(0); }));
  REQUIRE(
      (*db)->query("PRAGMA application_id", nullptr,
                   [&](const store::statement& s) { app = s.column_int(0); }));
  CHECK(mode == "wal");
  CHECK(app == store::application_id);
}

TEST_CASE("a transaction commits all its writes or none") {
  test::temp_dir dir;
  auto db = *database::open(dir / "m.db");
  REQUIRE(db->exec("CREATE TABLE t (x INTEGER)"));
  auto st = db->with_transaction([&](store::transaction& tx) -> status {
    auto ins = tx.prepare("INSERT INTO t VALUES (1)");
    REQUIRE(ins);
    REQUIRE(ins->run());
    return error{"test", 1, "abort on purpose"};
  });
  CHECK_FALSE(st);
  CHECK(count_rows(*db, "t") == 0);
  REQUIRE(db->with_transaction([&](store::transaction& tx) -> status {
    auto ins = tx.prepare("INSERT INTO t VALUES (?1)");
    for (int64_t i = 0; i < 3; ++i) {
      ins->bind(1, i);
      REQUIRE(ins->run());
      ins->reset();
    }
    return ok();
  }));
  CHECK(count_rows(*db, "t") == 3);
}

TEST_CASE("a dropped transaction rolls back") {
  test::temp_dir dir;
  auto db = *database::open(dir / "m.db");
  REQUIRE(db->exec("CREATE TABLE t (x INTEGER)"));
  {
    auto tx = db->begin();
    REQUIRE(tx);
    REQUIRE((*tx)->exec("INSERT INTO t VALUES (1)"));
  }
  CHECK(count_rows(*db, "t") == 0);
}

TEST_CASE("migrations apply once, in order, and survive reopening") {
  test::temp_dir dir;
  std::vector<store::migration> v1{{1, "CREATE TABLE a (x INTEGER)"}};
  auto v2 = v1;
  v2.push_back({2, "ALTER TABLE a ADD COLUMN y TEXT;"
                   "CREATE TABLE b (z INTEGER)"});
  {
    auto db = *database::open(dir / "m.db");
    REQUIRE(db->migrate("owner", v1));
    CHECK(*db->schema_version("owner") == 1);
    REQUIRE(db->migrate("owner", v1)); // idempotent
  }
  auto db = *database::open(dir / "m.db");
  REQUIRE(db->migrate("owner", v2));
  CHECK(*db->schema_version("owner") == 2);
  CHECK(db->exec("INSERT INTO a(x, y) VALUES (1, 'y')"));
  CHECK(count_rows(*db, "b") == 0);
  CHECK(*db->schema_version("other") == 0);
}

TEST_CASE("a failing migration changes nothing") {
  test::temp_dir dir;
  auto db = *database::open(dir / "m.db");
  auto st = db->migrate(
      "owner", {{1, "CREATE TABLE a (x INTEGER)"}, {2, "THIS IS NOT SQL"}});
  REQUIRE_FALSE(st);
  CHECK(st.err().message().find("migration owner v2") != std::string::npos);
  CHECK(*db->schema_version("owner") == 0);
  CHECK(db->exec("CREATE TABLE a (x INTEGER)")); // v1 was rolled back too
}

TEST_CASE("a schema newer than the code is refused") {
  test::temp_dir dir;
  auto db = *database::open(dir / "m.db");
  REQUIRE(db->migrate("owner", {{1, "CREATE TABLE a (x INTEGER)"},
                                {2, "CREATE TABLE b (x INTEGER)"}}));
  auto st = db->migrate("owner", {{1, "CREATE TABLE a (x INTEGER)"}});
  REQUIRE_FALSE(st);
  CHECK(code_of(st.err()) == errc::schema_too_new);
}

TEST_CASE("a file that is not a database is refused with its path") {
  test::temp_dir dir;
  auto path = dir.write("garbage.db", std::string(4096, 'x'));
  auto db = database::open(path);
  REQUIRE_FALSE(db);
  CHECK(code_of(db.err()) == errc::not_a_database);
  CHECK(db.err().message().find(path) != std::string::npos);
  auto tiny = dir.write("tiny.db", "SQLite");
  auto db2 = database::open(tiny);
  REQUIRE_FALSE(db2);
  CHECK(code_of(db2.err()) == errc::not_a_database);
}

TEST_CASE("a truncated database is refused, never a crash") {
  test::temp_dir dir;
  auto path = dir / "m.db";
  {
    auto db = *database::open(path);
    REQUIRE(db->exec("CREATE TABLE t (x BLOB)"));
    for (int i = 0; i < 200; ++i)
      REQUIRE(db->exec("INSERT INTO t VALUES (randomblob(1000))"));
  }
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  REQUIRE(::truncate(path.c_str(), st.st_size / 2) == 0);
  auto db = database::open(path);
  REQUIRE_FALSE(db);
  CHECK(code_of(db.err()) == errc::corrupt);
  CHECK(db.err().message().find(path) != std::string::npos);
  REQUIRE(::truncate(path.c_str(), 100) == 0);
  auto tiny = database::open(path);
  REQUIRE_FALSE(tiny);
  CHECK(code_of(tiny.err()) == errc::corrupt);
}

TEST_CASE("a database with damaged pages fails the integrity check") {
  test::temp_dir dir;
  auto path = dir / "m.db";
  {
    auto db = *database::open(path);
    REQUIRE(db->exec("CREATE TABLE t (x INTEGER PRIMARY KEY, y BLOB);"
                     "CREATE INDEX ty ON t(y)"));
    for (int i = 0; i < 300; ++i)
      REQUIRE(db->exec("INSERT INTO t(y) VALUES (randomblob(200))"));
    REQUIRE(db->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  }
  {
    // Overwrite page 3, header included, with noise.
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(4096 * 2);
    std::string noise(3000, '\x5a');
    f.write(noise.data(), static_cast<std::streamsize>(noise.size()));
  }
  auto db = database::open(path);
  REQUIRE_FALSE(db);
  CHECK(code_of(db.err()) == errc::corrupt);
  CHECK(db.err().message().find(path) != std::string::npos);
}

TEST_CASE("a foreign SQLite database is refused and left untouched") {
  test::temp_dir dir;
  auto path = dir / "other.db";
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw, "CREATE TABLE theirs (x INTEGER)", nullptr,
                         nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  struct stat before;
  REQUIRE(::stat(path.c_str(), &before) == 0);
  auto db = database::open(path);
  REQUIRE_FALSE(db);
  CHECK(code_of(db.err()) == errc::foreign_database);
  CHECK(db.err().message().find("another application") != std::string::npos);
  struct stat after;
  REQUIRE(::stat(path.c_str(), &after) == 0);
  CHECK(after.st_size == before.st_size);
  CHECK(::access((path + "-wal").c_str(), F_OK) != 0);
}

TEST_CASE("the state store saves atomically and loads the last value") {
  test::temp_dir dir;
  auto db = *database::open(dir / "m.db");
  auto states = store::state_store::open(db);
  REQUIRE(states);
  auto none = states->load("counter", "main");
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  CHECK(*states->save("counter", "main", "1") == 1);
  CHECK(*states->save("counter", "main", std::string("2\0x", 3)) == 2);
  auto got = states->load("counter", "main");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->value == std::string("2\0x", 3));
  CHECK((*got)->revision == 2);
  CHECK_FALSE(states->load("counter", "other")->has_value());
  REQUIRE(states->erase("counter"));
  CHECK_FALSE(states->load("counter", "main")->has_value());
}

TEST_CASE("state saved before closing is there after reopening") {
  test::temp_dir dir;
  {
    auto db = *database::open(dir / "m.db");
    auto states = *store::state_store::open(db);
    REQUIRE(states.save("a", "k", "persisted"));
  }
  auto db = *database::open(dir / "m.db");
  auto states = *store::state_store::open(db);
  auto got = states.load("a", "k");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->value == "persisted");
}

TEST_CASE("an online backup copies the whole database") {
  test::temp_dir dir;
  auto db = *database::open(dir / "m.db");
  auto states = *store::state_store::open(db);
  REQUIRE(states.save("a", "k", "v"));
  REQUIRE(db->backup_to(dir / "copy.db"));
  auto copy = *database::open(dir / "copy.db");
  auto copy_states = *store::state_store::open(copy);
  CHECK((*copy_states.load("a", "k"))->value == "v");
}

TEST_CASE("the state store saves and removes many keys in one go") {
  test::temp_dir dir;
  auto db = *database::open(dir / "m.db");
  auto states = *store::state_store::open(db);
  REQUIRE(states.save_many("s", {{"b", std::string("2\0", 2)}, {"a", "1"}}));
  REQUIRE(states.save("other", "a", "x"));
  auto all = states.load_all("s");
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].first == "a");
  CHECK((*all)[1].second.value == std::string("2\0", 2));
  REQUIRE(states.save_many("s", {{"c", "3"}, {"a", "1b"}}, {"b"}));
  all = states.load_all("s");
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].second.value == "1b");
  CHECK((*all)[0].second.revision == 2);
  CHECK((*all)[1].first == "c");
  CHECK(states.load_all("other")->size() == 1);
  CHECK(states.load_all("none")->empty());
}
