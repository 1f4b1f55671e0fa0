#pragma once

/// One Global Database replica as a pure protocol core: the database plus
/// who its peers are and what to send them. The actor and the simulator
/// both drive this class; they persist `replica_effects::rows` (before
/// acknowledging a write or sending anything) and deliver `sends`.
///
/// Every step that changes entries is two-phase: the step applies its
/// change and returns the rows to store and what each changed key held
/// before; the shell persists the rows, then sends and acknowledges (the
/// commit), or, when the store refuses them (a full disk), calls `abort`,
/// which puts every changed key back as it was and sends nothing. The shell
/// never edits the entries itself.
///
/// - A local write's delta goes to every live peer at once.
/// - Every tick, anti-entropy (a Merkle exchange) with one live peer picked
///   by the seeded generator; also on demand (`sync_with`), e.g. when the
///   spore tracker reports a heal that needs it.
/// - Entries received from a peer merge into the replica; their keys are
///   persisted before the answers go out.

#include "mycelium/core/prng.hpp"
#include "mycelium/gdb/database_core.hpp"
#include "mycelium/gdb/merkle.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mycelium::gdb {

struct replica_effects {
  /// Keys whose entries changed: persist them before sending or acking.
  std::set<std::string> persist;
  /// Their stored form (key, encoded entry), one per key in `persist`.
  std::vector<std::pair<std::string, std::string>> rows;
  /// What each changed key held before the step (nullopt: no entry); what
  /// `abort` restores.
  std::map<std::string, std::optional<or_map::entry>> undo;
  /// (peer node id, message).
  std::vector<std::pair<std::string, sync_message>> sends;
};

struct peer_info {
  std::string name;
  /// Wall ms of the last exchange that started or merged entries (0: none).
  int64_t reconciled_ms = 0;
};

class replica_core {
public:
  replica_core(replica_id self, limits lim, uint64_t seed)
      : db_(std::move(self), lim), rng_(seed) {}

  /// Local writes; on success the effects persist the key and ship the
  /// delta to every live peer.
  result<replica_effects> put(const std::string& key, const std::string& value,
                              crdt_value::type kind, wall_ms now);
  result<replica_effects> del(const std::string& key);

  /// A message from `from` (already decoded).
  replica_effects on_message(const std::string& from, const sync_message& msg,
                             wall_ms now);
  /// Periodic anti-entropy with one live peer (none when alone).
  replica_effects on_tick(wall_ms now);
  /// Anti-entropy with `peer` now.
  replica_effects sync_with(const std::string& peer, wall_ms now);

  /// The step that returned `fx` could not be persisted: its changed keys
  /// get back what they held before. Nothing of `fx` may be sent. The
  /// causal context stays advanced, so no dot is ever used twice.
  void abort(const replica_effects& fx);

  void peer_up(const std::string& id, const std::string& name);
  void peer_down(const std::string& id);
  const std::map<std::string, peer_info>& peers() const { return peers_; }
  /// Last reconciliation per node, also of nodes that are gone.
  const std::map<std::string, int64_t>& reconciled() const {
    return reconciled_;
  }

  database_core& db() { return db_; }
  const database_core& db() const { return db_; }

private:
  replica_effects ship(const std::string& key, const or_map& delta);
  /// The entry `key` holds now (nullopt: none).
  std::optional<or_map::entry> snapshot(const std::string& key) const;
  /// Fills `fx.rows` from the entries of `fx.persist`.
  void encode_rows(replica_effects& fx) const;

  database_core db_;
  prng rng_;
  std::map<std::string, peer_info> peers_;
  std::map<std::string, int64_t> reconciled_;
};

} // namespace mycelium::gdb
