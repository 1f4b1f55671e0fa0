#pragma once

#include "mycelium/core/error.hpp"

#include <cstdint>
#include <string>

namespace mycelium::store {

/// Store failures a caller reacts to differently. Append-only: never renumber.
enum class errc : uint8_t {
  /// The file could not be opened or created (permissions, missing folder).
  open_failed = 1,
  /// The file is not a SQLite database (garbage or truncated header).
  not_a_database = 2,
  /// A SQLite database that belongs to another application.
  foreign_database = 3,
  /// The integrity check failed or SQLite reported corruption.
  corrupt = 4,
  /// The schema was written by a newer version of Mycelium.
  schema_too_new = 5,
  /// The disk or the database's size limit is full.
  disk_full = 6,
  /// Another connection holds the lock longer than the busy timeout.
  busy = 7,
  /// Any other SQLite failure (bad SQL, constraint, I/O error).
  sql_failed = 8,
};

/// Stable name of `code`, e.g. "corrupt".
const char* to_string(errc code);

/// Builds a store error with a message.
inline error make_error(errc code, std::string message) {
  return error{"store", static_cast<uint8_t>(code), std::move(message)};
}

} // namespace mycelium::store
