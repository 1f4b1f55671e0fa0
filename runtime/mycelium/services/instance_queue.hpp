#pragma once

/// The jobs of one hosted instance, one at a time: a console call (an
/// operation with a caller to answer), a freeze or unfreeze (a split's loser
/// before its state goes to a merge), or a merge (the loser's final state
/// merged by the strategy actor). Each job that changes the instance ends in
/// one record to persist; the next job starts only once that record is
/// stored or refused, so what a caller hears is always what is stored.
///
/// The rules kept here, not in the shell: a frozen instance refuses calls
/// (its state is about to be merged), a merge computed while the winner took
/// operations since is stale and dropped (the strategy is asked again at
/// the next decision), and an operation that changes nothing is answered
/// without a write. Pure: the shell passes `now`, performs each `step` and
/// reports the write's outcome.

#include "mycelium/services/service_core.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace mycelium::services {

struct job {
  enum class type : uint8_t { call, freeze, unfreeze, merge };
  type what = type::call;
  /// The shell's handle of the caller (calls only).
  uint64_t ticket = 0;
  /// call: the operation and its arguments.
  std::vector<std::string> op;
  /// merge: the loser, the merged state, and the winner's operation count
  /// when the strategy got its state.
  std::optional<instance> loser;
  std::string merged_state;
  uint64_t merged_at_ops = 0;
};

/// What the shell does next for one instance.
struct step {
  enum class type : uint8_t {
    /// Nothing to do now (no job, or a write in flight).
    idle,
    /// Persist `next`, then report `persisted` or `failed`.
    write,
    /// Answer the call `j` with `answer` (nothing changed: no write).
    answer,
    /// Refuse the call `j` with `error`; `bad_request` tells an operation
    /// the service does not know from a refusal of the moment.
    refuse,
    /// The merge `j` is stale: forget it (the next decision merges again).
    drop,
  };
  type what = type::idle;
  job j;
  instance next;
  std::string answer;
  std::string error;
  bool bad_request = false;
};

class instance_queue {
public:
  instance_queue(instance rec, std::string kind)
      : rec_(std::move(rec)), kind_(std::move(kind)) {}

  void push(job j) { jobs_.push_back(std::move(j)); }

  /// The next step; `write` until it is reported, then the following job.
  step next(wall_ms now);

  /// The record of the last `write` is stored: it is the instance now.
  void persisted(const instance& next);
  /// The last `write` was refused: the instance stays as it was.
  void failed() { writing_ = false; }

  /// Every job not started (the instance is terminated).
  std::vector<job> drain();

  const instance& record() const { return rec_; }
  const std::string& kind() const { return kind_; }
  bool writing() const { return writing_; }

private:
  instance rec_;
  std::string kind_;
  std::deque<job> jobs_;
  bool writing_ = false;
};

} // namespace mycelium::services
