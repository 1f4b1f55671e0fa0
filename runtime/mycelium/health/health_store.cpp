#include "mycelium/health/health_store.hpp"

namespace mycelium::health {

using store::statement;
using store::transaction;

result<health_store> health_store::open(std::shared_ptr<store::database> db) {
  auto st = db->migrate(
      "health",
      {{1, "CREATE TABLE health_components ("
           "  path TEXT PRIMARY KEY, state TEXT NOT NULL,"
           "  restarts INTEGER NOT NULL, last_reason TEXT NOT NULL,"
           "  last_failure INTEGER NOT NULL, since INTEGER NOT NULL);"
           "CREATE TABLE health_events ("
           "  id INTEGER PRIMARY KEY AUTOINCREMENT, boot TEXT NOT NULL,"
           "  seq INTEGER NOT NULL, time INTEGER NOT NULL,"
           "  component TEXT NOT NULL, kind TEXT NOT NULL,"
           "  reason TEXT NOT NULL, count INTEGER NOT NULL,"
           "  delay_ms INTEGER NOT NULL);"
           "CREATE TABLE health_samples ("
           "  id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
           "  rss_bytes INTEGER NOT NULL, cpu_seconds REAL NOT NULL,"
           "  open_fds INTEGER NOT NULL, data_dir_bytes INTEGER NOT NULL,"
           "  disk_free_bytes INTEGER NOT NULL,"
           "  disk_total_bytes INTEGER NOT NULL);"
           "CREATE TABLE health_cursor ("
           "  id INTEGER PRIMARY KEY CHECK (id = 1), boot TEXT NOT NULL,"
           "  seq INTEGER NOT NULL);"}});
  if (!st)
    return st.err();
  return health_store{std::move(db)};
}

result<event_cursor> health_store::load(monitor_core& core) {
  auto st = db_->query(
      "SELECT path, state, restarts, last_reason, last_failure, since "
      "FROM health_components",
      nullptr, [&](const statement& s) {
        component_status c;
        c.path = s.column_text(0);
        c.state = s.column_text(1);
        c.restarts = s.column_int(2);
        c.last_reason = s.column_text(3);
        c.last_failure = s.column_int(4);
        c.since = s.column_int(5);
        core.restore(c);
      });
  if (!st)
    return st.err();
  st = db_->query(
      "SELECT time, rss_bytes, cpu_seconds, open_fds, data_dir_bytes, "
      "disk_free_bytes, disk_total_bytes FROM health_samples ORDER BY id",
      nullptr, [&](const statement& s) {
        resource_sample r;
        r.time = s.column_int(0);
        r.rss_bytes = s.column_int(1);
        r.cpu_seconds = s.column_double(2);
        r.open_fds = s.column_int(3);
        r.data_dir_bytes = s.column_int(4);
        r.disk_free_bytes = s.column_int(5);
        r.disk_total_bytes = s.column_int(6);
        core.restore(r);
      });
  if (!st)
    return st.err();
  event_cursor cursor;
  st = db_->query("SELECT boot, seq FROM health_cursor WHERE id = 1", nullptr,
                  [&](const statement& s) {
                    cursor.boot = s.column_text(0);
                    cursor.seq = static_cast<uint64_t>(s.column_int(1));
                  });
  if (!st)
    return st.err();
  return cursor;
}

status health_store::apply(const std::string& boot, const supervision_event& ev,
                           const component_status& c, int64_t max_events) {
  return db_->with_transaction([&](transaction& tx) -> status {
    auto comp = tx.prepare(
        "INSERT OR REPLACE INTO health_components(path, state, restarts, "
        "last_reason, last_failure, since) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!comp)
      return comp.err();
    comp->bind(1, c.path)
        .bind(2, c.state)
        .bind(3, c.restarts)
        .bind(4, c.last_reason)
        .bind(5, c.last_failure)
        .bind(6, c.since);
    if (auto r = comp->run(); !r)
      return r;
    auto evs = tx.prepare(
        "INSERT INTO health_events(boot, seq, time, component, kind, reason, "
        "count, delay_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!evs)
      return evs.err();
    evs->bind(1, boot)
        .bind(2, static_cast<int64_t>(ev.seq))
        .bind(3, ev.time)
        .bind(4, ev.component)
        .bind(5, ev.kind)
        .bind(6, ev.reason)
        .bind(7, ev.count)
        .bind(8, ev.delay_ms);
    if (auto r = evs->run(); !r)
      return r;
    auto trim = tx.prepare("DELETE FROM health_events WHERE id <= "
                           "(SELECT max(id) FROM health_events) - ?1");
    if (!trim)
      return trim.err();
    trim->bind(1, max_events);
    if (auto r = trim->run(); !r)
      return r;
    auto cur = tx.prepare("INSERT OR REPLACE INTO health_cursor(id, boot, "
                          "seq) VALUES (1, ?1, ?2)");
    if (!cur)
      return cur.err();
    cur->bind(1, boot).bind(2, static_cast<int64_t>(ev.seq));
    return cur->run();
  });
}

status health_store::add_sample(const resource_sample& r, int64_t max_samples) {
  return db_->with_transaction([&](transaction& tx) -> status {
    auto ins = tx.prepare(
        "INSERT INTO health_samples(time, rss_bytes, cpu_seconds, open_fds, "
        "data_dir_bytes, disk_free_bytes, disk_total_bytes) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!ins)
      return ins.err();
    ins->bind(1, r.time)
        .bind(2, r.rss_bytes)
        .bind(3, r.cpu_seconds)
        .bind(4, r.open_fds)
        .bind(5, r.data_dir_bytes)
        .bind(6, r.disk_free_bytes)
        .bind(7, r.disk_total_bytes);
    if (auto st = ins->run(); !st)
      return st;
    auto trim = tx.prepare("DELETE FROM health_samples WHERE id <= "
                           "(SELECT max(id) FROM health_samples) - ?1");
    if (!trim)
      return trim.err();
    trim->bind(1, max_samples);
    return trim->run();
  });
}

result<std::vector<supervision_event>>
health_store::recent_events(int64_t limit) {
  std::vector<supervision_event> out;
  auto st = db_->query(
      "SELECT seq, time, component, kind, reason, count, delay_ms FROM "
      "(SELECT * FROM health_events ORDER BY id DESC LIMIT ?1) ORDER BY id",
      [&](statement& s) { s.bind(1, limit); },
      [&](const statement& s) {
        supervision_event ev;
        ev.seq = static_cast<uint64_t>(s.column_int(0));
        ev.time = s.column_int(1);
        ev.component = s.column_text(2);
        ev.kind = s.column_text(3);
        ev.reason = s.column_text(4);
        ev.count = s.column_int(5);
        ev.delay_ms = s.column_int(6);
        out.push_back(std::move(ev));
      });
  if (!st)
    return st.err();
  return out;
}

} // namespace mycelium::health
