#pragma once

/// The one wrapper around SQLite (STYLE.md rule 16).
///
/// A node keeps one `database` (one file in its data dir) open for its whole
/// life and hands it to its actors. Opening validates the file before anything
/// else touches it: the header must be SQLite's, the application id must be
/// Mycelium's (or the file empty), and `PRAGMA quick_check` must pass. A bad
/// file is reported with its path and changes nothing. The connection runs in
/// WAL mode with `synchronous=FULL`, because callers persist before they
/// acknowledge: a committed transaction survives a crash or power loss.
///
/// Each actor owns its tables and declares them as an ordered list of
/// migrations under its own name; `migrate` applies the missing ones
/// atomically and refuses a schema newer than the code (append-only schema).
///
/// Thread safety: actors run on several threads and share the connection, so
/// every access happens under the database's mutex: a `transaction` holds it
/// for its lifetime, and `database::exec`/`query` take it per call.

#include "mycelium/core/result.hpp"
#include "mycelium/store/errc.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace mycelium::store {

class database;

/// Mycelium's SQLite application id: 'MYCL'.
constexpr int32_t application_id = 0x4D59434C;

/// Settings for opening a database.
struct open_options {
  /// How long a statement waits on a lock held by another connection.
  int busy_timeout_ms = 5000;
  /// Create the file when it does not exist.
  bool create = true;
  /// Run `PRAGMA quick_check` at open (skipped only by benchmarks that reopen
  /// the same healthy file thousands of times).
  bool check_integrity = true;
};

/// A prepared statement (RAII). Parameters are 1-based, columns 0-based.
class statement {
public:
  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  statement& bind(int index, int64_t value);
  statement& bind(int index, double value);
  statement& bind(int index, std::string_view text);
  statement& bind(int index, const char* text) {
    return bind(index, std::string_view{text});
  }
  statement& bind_blob(int index, const void* data, size_t size);
  statement& bind_null(int index);

  /// Advances: true when a row is available, false when done.
  result<bool> step();

  /// Runs the statement to completion, ignoring rows.
  status run();

  /// Rewinds for another execution, keeping bindings.
  void reset();

  int64_t column_int(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::vector<char> column_blob(int column) const;
  bool column_is_null(int column) const;

private:
  friend class database;
  statement(database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  database* db_;
  sqlite3_stmt* stmt_;
};

/// One schema step of one owner; `sql` may hold several statements.
struct migration {
  int version;
  std::string sql;
};

/// An open SQLite database file. Not copyable; share it by `shared_ptr`.
class database {
public:
  class transaction;

  /// Opens (or creates) the database at `path` and validates it.
  static result<std::shared_ptr<database>> open(const std::string& path,
                                                open_options opts = {});

  database(const database&) = delete;
  database& operator=(const database&) = delete;
  ~database();

  /// Path of the database file.
  const std::string& path() const noexcept { return path_; }

  /// Runs `sql` (one or more statements) under the lock.
  status exec(const std::string& sql);

  /// Starts an immediate (write-locking) transaction; rolls back unless
  /// committed. Holds the database mutex until it ends.
  result<std::unique_ptr<transaction>> begin();

  /// Runs `fn` inside a transaction and commits when it succeeds.
  status with_transaction(const std::function<status(transaction&)>& fn);

  /// Applies `owner`'s missing migrations (ordered by version) atomically.
  status migrate(const std::string& owner,
                 const std::vector<migration>& migrations);

  /// The schema version of `owner` (0 when it has none yet).
  result<int> schema_version(const std::string& owner);

  /// Copies the whole database into a new file at `target` (online backup).
  status backup_to(const std::string& target);

  /// Translates the last SQLite failure into an error naming this file.
  error last_error(int rc, std::string_view what) const;

  /// An open transaction; prepare statements through it.
  class transaction {
  public:
    ~transaction();

    /// Prepares `sql` for use inside this transaction.
    result<statement> prepare(const std::string& sql);

    /// Runs `sql` directly.
    status exec(const std::string& sql);

    /// Commits; after this the transaction is finished.
    status commit();

    database& db() { return db_; }

  private:
    friend class database;
    transaction(database& db, std::unique_lock<std::recursive_mutex> lock)
        : db_(db), lock_(std::move(lock)) {}

    database& db_;
    std::unique_lock<std::recursive_mutex> lock_;
    bool done_ = false;
  };

  /// Runs a read-only query under the lock; `fn` sees each row.
  status query(const std::string& sql,
               const std::function<void(statement&)>& bind,
               const std::function<void(const statement&)>& row);

private:
  friend class statement;
  database(std::string path, sqlite3* handle)
      : path_(std::move(path)), handle_(handle) {}

  status exec_unlocked(const std::string& sql);
  result<statement> prepare_unlocked(const std::string& sql);
  status validate(const open_options& opts);

  std::string path_;
  sqlite3* handle_;
  std::recursive_mutex mtx_;
};

using transaction = database::transaction;

} // namespace mycelium::store
