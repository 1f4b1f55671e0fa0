#include "mycelium/store/database.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sys/stat.h>

namespace mycelium::store {

const char* to_string(errc code) {
  switch (code) {
  case errc::open_failed:
    return "open_failed";
  case errc::not_a_database:
    return "not_a_database";
  case errc::foreign_database:
    return "foreign_database";
  case errc::corrupt:
    return "corrupt";
  case errc::schema_too_new:
    return "schema_too_new";
  case errc::disk_full:
    return "disk_full";
  case errc::busy:
    return "busy";
  case errc::sql_failed:
    return "sql_failed";
  }
  return "unknown";
}

namespace {

errc classify(int rc) {
  switch (rc & 0xff) {
  case SQLITE_CORRUPT:
    return errc::corrupt;
  case SQLITE_NOTADB:
    return errc::not_a_database;
  case SQLITE_FULL:
    return errc::disk_full;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return errc::busy;
  case SQLITE_CANTOPEN:
  case SQLITE_PERM:
  case SQLITE_READONLY:
    return errc::open_failed;
  default:
    return errc::sql_failed;
  }
}

/// Checks the first bytes of an existing file before SQLite sees it, so
/// garbage and truncated files get a precise message.
status check_header(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || st.st_size == 0)
    return ok(); // new or empty file: SQLite initialises it
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::open_failed, path + ": cannot read the file");
  char header[16] = {};
  in.read(header, sizeof(header));
  if (in.gcount() < static_cast<std::streamsize>(sizeof(header)) ||
      std::memcmp(header, "SQLite format 3", 16) != 0)
    return make_error(errc::not_a_database,
                      path + ": not a SQLite database (bad or truncated "
                             "header)");
  if (st.st_size < 512)
    return make_error(errc::corrupt, path + ": truncated database (" +
                                         std::to_string(st.st_size) +
                                         " bytes)");
  return ok();
}

} // namespace

// -- statement ----------------------------------------------------------------

statement::statement(statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

statement::~statement() {
  sqlite3_finalize(stmt_);
}

statement& statement::bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

statement& statement::bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

statement& statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

statement& statement::bind_blob(int index, const void* data, size_t size) {
  sqlite3_bind_blob(stmt_, index, data, static_cast<int>(size),
                    SQLITE_TRANSIENT);
  return *this;
}

statement& statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

result<bool> statement::step() {
  auto rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  return db_->last_error(rc, "step");
}

status statement::run() {
  for (;;) {
    auto more = step();
    if (!more)
      return more.err();
    if (!*more)
      return ok();
  }
}

void statement::reset() {
  sqlite3_reset(stmt_);
}

int64_t statement::column_int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double statement::column_double(int column) const {
  return sqlite3_column_double(stmt_, column);
}

std::string statement::column_text(int column) const {
  auto* text = sqlite3_column_text(stmt_, column);
  auto size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr)
    return {};
  return std::string{reinterpret_cast<const char*>(text),
                     static_cast<size_t>(size)};
}

std::vector<char> statement::column_blob(int column) const {
  auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  auto size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr)
    return {};
  return std::vector<char>(data, data + size);
}

bool statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// -- database -----------------------------------------------------------------

result<std::shared_ptr<database>> database::open(const std::string& path,
                                                 open_options opts) {
  if (auto st = check_header(path); !st)
    return st.err();
  sqlite3* handle = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
  if (opts.create)
    flags |= SQLITE_OPEN_CREATE;
  auto rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = path + ": cannot open database: " +
                      (handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc));
    sqlite3_close(handle);
    return make_error(classify(rc) == errc::sql_failed ? errc::open_failed
                                                       : classify(rc),
                      msg);
  }
  sqlite3_extended_result_codes(handle, 1);
  sqlite3_busy_timeout(handle, opts.busy_timeout_ms);
  std::shared_ptr<database> db{new database(path, handle)};
  if (auto st = db->validate(opts); !st)
    return st.err();
  return db;
}

status database::validate(const open_options& opts) {
  // Reading the schema is the first access that touches the file's pages.
  int64_t tables = 0;
  int32_t app_id = 0;
  {
    auto st = prepare_unlocked("SELECT count(*) FROM sqlite_master");
    if (!st)
      return st.err();
    auto row = st->step();
    if (!row)
      return row.err();
    tables = st->column_int(0);
  }
  {
    auto st = prepare_unlocked("PRAGMA application_id");
    if (!st)
      return st.err();
    auto row = st->step();
    if (!row)
      return row.err();
    app_id = static_cast<int32_t>(st->column_int(0));
  }
  if (app_id != application_id && (app_id != 0 || tables != 0))
    return make_error(errc::foreign_database,
                      path_ +
                          ": database belongs to another application "
                          "(application_id " +
                          std::to_string(app_id) + ", expected " +
                          std::to_string(application_id) + ")");
  if (opts.check_integrity) {
    auto st = prepare_unlocked("PRAGMA quick_check");
    if (!st)
      return st.err();
    std::string first;
    for (;;) {
      auto row = st->step();
      if (!row)
        return row.err();
      if (!*row)
        break;
      if (first.empty())
        first = st->column_text(0);
    }
    if (first != "ok")
      return make_error(errc::corrupt,
                        path_ + ": integrity check failed: " + first);
  }
  if (auto st = exec_unlocked("PRAGMA journal_mode=WAL;"
                              "PRAGMA synchronous=FULL;"
                              "PRAGMA foreign_keys=ON;");
      !st)
    return st;
  if (app_id == 0) {
    auto st = exec_unlocked(
        "PRAGMA application_id=" + std::to_string(application_id) + ";");
    if (!st)
      return st;
  }
  return exec_unlocked("CREATE TABLE IF NOT EXISTS schema_versions ("
                       "owner TEXT PRIMARY KEY, version INTEGER NOT NULL)");
}

database::~database() {
  sqlite3_close_v2(handle_);
}

error database::last_error(int rc, std::string_view what) const {
  std::string msg =
      path_ + ": " + std::string{what} + ": " + sqlite3_errmsg(handle_);
  return make_error(classify(rc), std::move(msg));
}

status database::exec_unlocked(const std::string& sql) {
  char* msg = nullptr;
  auto rc = sqlite3_exec(handle_, sql.c_str(), nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string text = path_ + ": " + (msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return make_error(classify(rc), std::move(text));
  }
  return ok();
}

result<statement> database::prepare_unlocked(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  auto rc = sqlite3_prepare_v2(handle_, sql.c_str(),
                               static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK)
    return last_error(rc, "prepare");
  return statement{this, stmt};
}

status database::exec(const std::string& sql) {
  std::lock_guard<std::recursive_mutex> guard{mtx_};
  return exec_unlocked(sql);
}

status database::query(const std::string& sql,
                       const std::function<void(statement&)>& bind,
                       const std::function<void(const statement&)>& row) {
  std::lock_guard<std::recursive_mutex> guard{mtx_};
  auto st = prepare_unlocked(sql);
  if (!st)
    return st.err();
  if (bind)
    bind(*st);
  for (;;) {
    auto more = st->step();
    if (!more)
      return more.err();
    if (!*more)
      return ok();
    row(*st);
  }
}

result<std::unique_ptr<database::transaction>> database::begin() {
  std::unique_lock<std::recursive_mutex> lock{mtx_};
  if (auto st = exec_unlocked("BEGIN IMMEDIATE"); !st)
    return st.err();
  return std::unique_ptr<transaction>{new transaction(*this, std::move(lock))};
}

status
database::with_transaction(const std::function<status(transaction&)>& fn) {
  auto tx = begin();
  if (!tx)
    return tx.err();
  if (auto st = fn(**tx); !st)
    return st; // the destructor rolls back
  return (*tx)->commit();
}

database::transaction::~transaction() {
  if (!done_)
    db_.exec_unlocked("ROLLBACK");
}

result<statement> database::transaction::prepare(const std::string& sql) {
  return db_.prepare_unlocked(sql);
}

status database::transaction::exec(const std::string& sql) {
  return db_.exec_unlocked(sql);
}

status database::transaction::commit() {
  auto st = db_.exec_unlocked("COMMIT");
  if (st)
    done_ = true;
  return st;
}

result<int> database::schema_version(const std::string& owner) {
  int version = 0;
  auto st = query(
      "SELECT version FROM schema_versions WHERE owner = ?1",
      [&](statement& s) { s.bind(1, owner); },
      [&](const statement& s) { version = static_cast<int>(s.column_int(0)); });
  if (!st)
    return st.err();
  return version;
}

status database::migrate(const std::string& owner,
                         const std::vector<migration>& migrations) {
  return with_transaction([&](transaction& tx) -> status {
    auto current = schema_version(owner);
    if (!current)
      return current.err();
    int latest = migrations.empty() ? 0 : migrations.back().version;
    if (*current > latest)
      return make_error(
          errc::schema_too_new,
          path_ + ": schema of '" + owner + "' is version " +
              std::to_string(*current) + ", this build knows up to " +
              std::to_string(latest) + " (written by a newer Mycelium?)");
    for (auto& m : migrations) {
      if (m.version <= *current)
        continue;
      if (auto st = tx.exec(m.sql); !st)
        return make_error(static_cast<errc>(st.err().code()),
                          "migration " + owner + " v" +
                              std::to_string(m.version) +
                              " failed: " + st.err().message());
    }
    if (latest > *current) {
      auto st = tx.prepare("INSERT INTO schema_versions(owner, version) "
                           "VALUES (?1, ?2) ON CONFLICT(owner) DO UPDATE "
                           "SET version = excluded.version");
      if (!st)
        return st.err();
      st->bind(1, owner).bind(2, static_cast<int64_t>(latest));
      return st->run();
    }
    return ok();
  });
}

status database::backup_to(const std::string& target) {
  std::lock_guard<std::recursive_mutex> guard{mtx_};
  sqlite3* dest = nullptr;
  auto rc = sqlite3_open(target.c_str(), &dest);
  if (rc != SQLITE_OK) {
    sqlite3_close(dest);
    return make_error(errc::open_failed, target + ": cannot create backup");
  }
  auto* bk = sqlite3_backup_init(dest, "main", handle_, "main");
  if (bk == nullptr) {
    std::string msg = target + ": backup failed: " + sqlite3_errmsg(dest);
    sqlite3_close(dest);
    return make_error(errc::sql_failed, msg);
  }
  rc = sqlite3_backup_step(bk, -1);
  sqlite3_backup_finish(bk);
  sqlite3_close(dest);
  if (rc != SQLITE_DONE)
    return make_error(classify(rc),
                      target + ": backup failed: " + sqlite3_errstr(rc));
  return ok();
}

} // namespace mycelium::store
