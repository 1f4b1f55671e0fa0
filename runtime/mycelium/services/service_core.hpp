#pragma once

/// Services: named stateful actors the runtime hosts, one instance per
/// network, and what happens to them when the network splits.
///
/// Every instance writes its record (host, counters, state) to the Global
/// Database under `svc/<service>/<instance>` before it acknowledges an
/// operation, so every node holds every instance's last state. A service
/// whose instances all sit on unreachable nodes is started again on the
/// reachable node that rendezvous hashing picks, from the newest record
/// (failover). During a partition each side may so run its own instance;
/// when the sides meet again, the Global Database brings both records to
/// every node and the *split* is resolved:
///
/// - `busiest` (default): the instance that processed more operations
///   (then holds more data, then wrote last) wins; the other is terminated
///   and its record removed. What only the loser did is dropped.
/// - `newest`: the instance that wrote last wins, the other is terminated.
/// - any other name: a merge-strategy actor of that name gets both
///   instances (states and metrics) and returns the merged state. The
///   loser first freezes (takes no more operations, its record holds its
///   final state), then the busiest instance merges that final state, and
///   the loser is terminated once absorbed.
///
/// Every node computes the same decision from the same records; the core
/// returns what this node must do. Inputs are values, no clock is read.

#include "mycelium/core/result.hpp"
#include "mycelium/core/time.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mycelium::services {

/// Error codes of the "services" domain.
enum class errc : uint8_t {
  /// A record or state that does not decode.
  bad_record = 1,
  /// An operation the service kind does not know, or bad arguments.
  bad_operation = 2,
  /// No such service (configured), or not running on this node.
  not_here = 3,
};

/// A configured service.
struct service_spec {
  std::string name;
  /// "counter" or "kv".
  std::string kind;
  /// "busiest", "newest", or the name of a merge-strategy actor.
  std::string merge = "busiest";
};

/// Whether `kind` is a service kind this runtime hosts.
bool known_kind(const std::string& kind);
/// Whether `merge` names a built-in strategy (no actor involved).
bool builtin_strategy(const std::string& merge);

/// One instance as its record in the Global Database holds it.
struct instance {
  std::string service;
  /// Unique: the host's id prefix, the start time and a sequence number.
  std::string id;
  /// Node id and name of the host.
  std::string host;
  std::string host_name;
  wall_ms started_ms = 0;
  /// Operations processed since the service first started (inherited
  /// through failovers and merges).
  uint64_t ops = 0;
  /// Size of the state.
  uint64_t data_bytes = 0;
  wall_ms last_write_ms = 0;
  /// The service's state (JSON text).
  std::string state;
  /// Where this instance's history branched off: every instance it was
  /// started from (failover), oldest first, with the state and operation
  /// count it had then. Empty for a fresh start. Two instances' common
  /// ancestor, which a merge needs, is found here.
  struct fork_point {
    std::string id;
    std::string state;
    uint64_t ops = 0;
  };
  std::vector<fork_point> lineage;

  /// The instance this one was started from ("" for a fresh start).
  std::string forked_from() const {
    return lineage.empty() ? std::string{} : lineage.back().id;
  }
  /// Instances whose states this one merged (they may go).
  std::vector<std::string> absorbed;
  /// Set by the loser of a split resolved by a merge strategy: it takes no
  /// more operations, so this record holds its final state and the merge
  /// loses nothing (a merge with an older copy would).
  bool frozen = false;
};

/// The record's key in the Global Database: svc/<service>/<id>.
std::string record_key(const instance& i);
/// The prefix of every record of the services ("svc/").
extern const char* const record_prefix;

std::string encode(const instance& i);
result<instance> decode(const std::string& text);

/// The initial state of a service kind.
std::string initial_state(const std::string& kind);

/// Applies one operation to a state. Returns the answer and the new state
/// (equal to the old one for reads).
struct op_result {
  std::string answer;
  std::string state;
  bool changed = false;
};
result<op_result> apply(const std::string& kind, const std::string& state,
                        const std::vector<std::string>& op);

/// A new instance `id` of `spec` on `host`: fresh, or started from `from`
/// (its state and operations, `from` appended to its lineage).
instance new_instance(const service_spec& spec,
                      const std::optional<instance>& from, std::string id,
                      std::string host, std::string host_name, wall_ms now);

/// `i` after an operation that changed its state to `r.state`.
instance after_operation(const instance& i, const op_result& r, wall_ms now);

/// Of two instances of a service, the one `strategy` keeps (for a merge
/// strategy: the one that takes the merged state). Total and symmetric:
/// every node picks the same.
const instance& winner(const instance& a, const instance& b,
                       const std::string& strategy);

/// The state and operation count the two instances last shared: where one
/// branched off the other (the other is in its lineage), else where both
/// branched off the newest instance in both lineages (the earlier of the
/// two points); the kind's initial state and 0 when unrelated.
struct ancestor {
  std::string state;
  uint64_t ops = 0;
};
ancestor common_ancestor(const std::string& kind, const instance& a,
                         const instance& b);

/// The merged instance: `w` with `merged_state`, the operations of both
/// since their common ancestor, and `l` absorbed.
instance absorb(const instance& w, const instance& l,
                const std::string& merged_state, const ancestor& base,
                wall_ms now);

/// A merge strategy's answer as the state to store (compact JSON text);
/// `bad_record` when it is not a JSON object (a misbehaving strategy).
result<std::string> merged_state(const std::string& answer);

/// Merge strategies shipped with the runtime (the `counter-sum` and
/// `kv-union` strategy actors call them): a counter's value is the
/// ancestor's plus what each instance added since; a kv state is the
/// union of keys, the winner's value where both changed a key.
result<std::string> merge_counter_sum(const instance& w, const instance& l,
                                      const ancestor& base);
result<std::string> merge_kv_union(const instance& w, const instance& l,
                                   const ancestor& base);

/// What this node must do.
struct effects {
  /// Start an instance of `service`, from `from` (the newest record of an
  /// instance on an unreachable node) or fresh.
  struct start {
    std::string service;
    std::optional<instance> from;
  };
  /// Stop the local instance `id` and remove its record.
  struct terminate {
    std::string service;
    std::string id;
    std::string reason;
  };
  /// Merge `loser` into the local instance `winner` with `strategy`.
  struct merge {
    std::string service;
    std::string winner;
    instance loser;
    std::string strategy;
  };
  /// Freeze (or, when a split is gone, unfreeze) the local instance `id`.
  struct freeze {
    std::string service;
    std::string id;
    bool on = true;
  };
  std::vector<start> starts;
  std::vector<terminate> terminations;
  std::vector<merge> merges;
  std::vector<freeze> freezes;
  /// Records of instances on unreachable hosts that a live instance
  /// absorbed or outlived: any node may remove them.
  std::vector<std::string> stale_records;
};

/// The network as one node sees it.
struct view {
  /// Reachable nodes, this one included.
  std::set<std::string> live;
  /// Every record in the Global Database.
  std::vector<instance> records;
  /// Instances running on this node (ids).
  std::set<std::string> running;
  /// False until this node has watched the network long enough to know
  /// the records of running instances (just after it started): nothing is
  /// started before.
  bool may_start = true;
};

/// The rendezvous-hash owner of `service` among `nodes` (empty if none).
std::string owner(const std::string& service,
                  const std::set<std::string>& nodes);

class placement_core {
public:
  placement_core(std::string self, std::vector<service_spec> specs)
      : self_(std::move(self)), specs_(std::move(specs)) {}

  /// What to start, terminate and merge now.
  effects decide(const view& v) const;

  const std::vector<service_spec>& specs() const { return specs_; }
  const service_spec* spec(const std::string& service) const;

private:
  std::string self_;
  std::vector<service_spec> specs_;
};

} // namespace mycelium::services
