#include "mycelium/store/state_store.hpp"

namespace mycelium::store {

result<state_store> state_store::open(std::shared_ptr<database> db) {
  auto st = db->migrate("state_store",
                        {{1, "CREATE TABLE actor_state ("
                             "owner TEXT NOT NULL, key TEXT NOT NULL, "
                             "value BLOB NOT NULL, revision INTEGER NOT NULL, "
                             "PRIMARY KEY (owner, key))"}});
  if (!st)
    return st.err();
  return state_store{std::move(db)};
}

result<int64_t> state_store::save(const std::string& owner,
                                  const std::string& key,
                                  const std::string& value) {
  int64_t revision = 0;
  auto st = db_->with_transaction([&](transaction& tx) -> status {
    auto stmt = tx.prepare(
        "INSERT INTO actor_state(owner, key, value, revision) "
        "VALUES (?1, ?2, ?3, 1) ON CONFLICT(owner, key) DO UPDATE SET "
        "value = excluded.value, revision = actor_state.revision + 1 "
        "RETURNING revision");
    if (!stmt)
      return stmt.err();
    stmt->bind(1, owner).bind(2, key).bind_blob(3, value.data(), value.size());
    auto row = stmt->step();
    if (!row)
      return row.err();
    revision = stmt->column_int(0);
    return stmt->run();
  });
  if (!st)
    return st.err();
  return revision;
}

result<std::optional<state_store::entry>>
state_store::load(const std::string& owner, const std::string& key) {
  std::optional<entry> found;
  auto st = db_->query(
      "SELECT value, revision FROM actor_state WHERE owner = ?1 AND key = ?2",
      [&](statement& s) { s.bind(1, owner).bind(2, key); },
      [&](const statement& s) {
        auto blob = s.column_blob(0);
        found = entry{std::string{blob.begin(), blob.end()}, s.column_int(1)};
      });
  if (!st)
    return st.err();
  return found;
}

status state_store::erase(const std::string& owner) {
  return db_->with_transaction([&](transaction& tx) -> status {
    auto stmt = tx.prepare("DELETE FROM actor_state WHERE owner = ?1");
    if (!stmt)
      return stmt.err();
    stmt->bind(1, owner);
    return stmt->run();
  });
}

status state_store::save_many(
    const std::string& owner,
    const std::vector<std::pair<std::string, std::string>>& puts,
    const std::vector<std::string>& removes) {
  if (puts.empty() && removes.empty())
    return ok();
  return db_->with_transaction([&](transaction& tx) -> status {
    auto put = tx.prepare(
        "INSERT INTO actor_state(owner, key, value, revision) "
        "VALUES (?1, ?2, ?3, 1) ON CONFLICT(owner, key) DO UPDATE SET "
        "value = excluded.value, revision = actor_state.revision + 1");
    if (!put)
      return put.err();
    for (auto& [key, value] : puts) {
      put->reset();
      put->bind(1, owner).bind(2, key).bind_blob(3, value.data(), value.size());
      if (auto st = put->run(); !st)
        return st;
    }
    auto del =
        tx.prepare("DELETE FROM actor_state WHERE owner = ?1 AND key = ?2");
    if (!del)
      return del.err();
    for (auto& key : removes) {
      del->reset();
      del->bind(1, owner).bind(2, key);
      if (auto st = del->run(); !st)
        return st;
    }
    return ok();
  });
}

result<std::vector<std::pair<std::string, state_store::entry>>>
state_store::load_all(const std::string& owner) {
  std::vector<std::pair<std::string, entry>> out;
  auto st = db_->query(
      "SELECT key, value, revision FROM actor_state WHERE owner = ?1 "
      "ORDER BY key",
      [&](statement& s) { s.bind(1, owner); },
      [&](const statement& s) {
        auto blob = s.column_blob(1);
        out.emplace_back(
            s.column_text(0),
            entry{std::string{blob.begin(), blob.end()}, s.column_int(2)});
      });
  if (!st)
    return st.err();
  return out;
}

} // namespace mycelium::store
