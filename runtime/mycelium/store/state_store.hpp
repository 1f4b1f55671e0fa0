#pragma once

/// Atomic save/load of an actor's state.
///
/// An actor persists its state under its owner name as it changes and a
/// restarted actor loads it before handling its first message, so a crash
/// loses no acknowledged work. Each `save` is one committed transaction:
/// after it returns, the value survives a crash of the process.
///
/// The state is an opaque byte string; the actor chooses its encoding. Several
/// keys per owner let an actor split state into independently updated parts.

#include "mycelium/core/result.hpp"
#include "mycelium/store/database.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mycelium::store {

class state_store {
public:
  /// A stored value and how many times it was saved.
  struct entry {
    std::string value;
    int64_t revision = 0;
  };

  /// Creates the store's table in `db` when missing.
  static result<state_store> open(std::shared_ptr<database> db);

  /// Replaces `owner`/`key` atomically; returns the new revision.
  result<int64_t> save(const std::string& owner, const std::string& key,
                       const std::string& value);

  /// The last saved value, or nothing when it was never saved.
  result<std::optional<entry>> load(const std::string& owner,
                                    const std::string& key);

  /// Removes every key of `owner`.
  status erase(const std::string& owner);

  /// Saves `puts` and removes `removes` of `owner` in one transaction (one
  /// sync to disk for many keys).
  status save_many(const std::string& owner,
                   const std::vector<std::pair<std::string, std::string>>& puts,
                   const std::vector<std::string>& removes = {});

  /// Every key of `owner` with its value, ordered by key.
  result<std::vector<std::pair<std::string, entry>>>
  load_all(const std::string& owner);

  const std::shared_ptr<database>& db() const { return db_; }

private:
  explicit state_store(std::shared_ptr<database> db) : db_(std::move(db)) {}

  std::shared_ptr<database> db_;
};

} // namespace mycelium::store
