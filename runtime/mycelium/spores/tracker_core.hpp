#pragma once

/// The spore tracker's pure core: keeps the latent spore of every node this
/// node has met and the master seed spore, marks who is active, detects
/// returns and heals, and reconciles spores with peers by anti-entropy.
///
/// Sync (one exchange, three messages, A starts with a random live peer B):
///   A -> B  digest: a hash per bucket of spores (ids hash into `buckets`
///           buckets) and the master's digest;
///   B -> A  reply: the buckets that differ and B's spores in them (and B's
///           master when it differs);
///   A -> B  push: after merging, only the spores of those buckets whose
///           merged version differs from what B sent.
/// Cost grows with what differs, not with the number of nodes; once equal,
/// an exchange is one digest and an empty reply.
///
/// Time: `wall` is the shell's wall clock in ms (spores outlive processes);
/// activity is recorded in slots of `slot_ms`, so observers of the same
/// node write the same slots.

#include "mycelium/core/prng.hpp"
#include "mycelium/spores/spore.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mycelium::spores {

struct tracker_config {
  /// Activity granularity: a node seen alive in a slot is active in it.
  int64_t slot_ms = 60000;
  /// One sync exchange with a random live member per interval.
  int64_t sync_interval_ms = 2000;
  /// Buckets of the sync digest.
  uint32_t buckets = 64;
  /// Spores of nodes not active for this long are forgotten (weeks: a
  /// sparse network must remember; Serf forgets after 24 hours).
  int64_t retention_ms = 28LL * 24 * 3600 * 1000;
  /// A node not heard of through membership for this long after it came
  /// back is decided with what we know (no sync answered).
  int64_t return_decision_ms = 10000;
  merge_rules rules;
};

struct sync_message {
  enum class type : uint8_t { digest = 0, reply = 1, push = 2 };
  type kind = type::digest;
  uint32_t buckets = 0;
  /// digest: one hash per bucket.
  std::vector<uint64_t> hashes;
  uint64_t master_digest = 0;
  /// reply: the buckets that differ.
  std::vector<uint32_t> differing;
  std::vector<latent_spore> spores;
  std::optional<master_spore> master;
};

struct tracker_event {
  enum class type : uint8_t {
    /// A node we had no spore of (met directly or learned from spores).
    learned,
    /// A node known to be offline is back; `decision` says how to rejoin.
    returned,
    /// Several nodes came back together (a section of the network):
    /// `nodes` lists them; `gained` the nodes either side first met while
    /// apart, `lost` the ones that went offline while apart.
    section_rejoined,
  };
  type what = type::learned;
  std::string node_id;
  std::vector<std::string> addresses;
  rejoin decision = rejoin::independent;
  /// Wall ms since which it (or the section) was apart.
  int64_t apart_since_ms = 0;
  std::vector<std::string> nodes;
  std::vector<std::string> gained;
  std::vector<std::string> lost;
};

const char* to_string(tracker_event::type t);

struct tracker_effects {
  std::vector<std::pair<std::string, sync_message>> sends;
  std::vector<tracker_event> events;
  /// Spores to persist (changed), and the master when it changed.
  std::vector<latent_spore> persist;
  std::optional<master_spore> persist_master;
  /// Spores to delete (retention).
  std::vector<std::string> forget;
};

/// A known node as the console shows it.
struct spore_view {
  const latent_spore* spore = nullptr;
  bool online = false;
  /// Wall ms since when it is online or offline (0: unknown).
  int64_t since_ms = 0;
};

class tracker_core {
public:
  /// `self` is this node's spore as the shell knows it now (id, pointer);
  /// it and `master` are stamped with our clock at `wall`.
  tracker_core(tracker_config cfg, latent_spore self, master_spore master,
               uint64_t seed, wall_ms wall);

  /// Spores loaded from the store at start (merged; nothing is sent).
  void restore(const std::vector<latent_spore>& spores,
               const std::optional<master_spore>& master);

  /// Membership says `id` is alive (joined, recovered, address changed).
  tracker_effects on_alive(const std::string& id, const std::string& name,
                           const std::string& address, uint64_t incarnation,
                           wall_ms wall);
  /// Membership says `id` failed or left.
  tracker_effects on_gone(const std::string& id, wall_ms wall);

  tracker_effects on_message(const std::string& from, const sync_message& msg,
                             wall_ms wall);
  tracker_effects on_tick(wall_ms wall);

  /// Merges a whole spore set and master at once (the full-state baseline
  /// of the simulator's benchmark; the protocol itself uses on_message).
  tracker_effects merge_full(const spore_set& in,
                             const std::optional<master_spore>& master,
                             wall_ms wall);

  /// Our own data summary changed (written with our clock).
  tracker_effects set_summary(uint64_t data_bytes, uint64_t processed_ops,
                              wall_ms wall);

  const spore_set& spores() const { return spores_; }
  const master_spore& master() const { return master_; }
  const std::string& self_id() const { return self_id_; }
  std::vector<spore_view> view() const;
  std::optional<spore_view> view(const std::string& id) const;
  /// Bucket hashes of the current set (sync digest; also a cheap equality
  /// check between nodes in tests and the simulator).
  std::vector<uint64_t> bucket_hashes() const;
  const tracker_config& config() const { return cfg_; }
  uint64_t bytes_sent() const { return bytes_sent_; }

private:
  uint32_t bucket_of(const std::string& id) const;
  sync_message make_digest() const;
  void changed(const std::string& id, tracker_effects& fx);
  void absorb(const std::string& from, const std::vector<latent_spore>& in,
              const std::optional<master_spore>& master, wall_ms wall,
              tracker_effects& fx);
  void send(const std::string& to, sync_message msg, tracker_effects& fx);
  void decide_returns(const std::string& peer, wall_ms wall, bool force,
                      tracker_effects& fx);

  tracker_config cfg_;
  std::string self_id_;
  spore_set spores_;
  master_spore master_;
  hlc clock_;
  prng rng_;
  /// Live members now (membership's view) and since when.
  std::map<std::string, int64_t> online_;
  /// Offline members and since when (wall ms).
  std::map<std::string, int64_t> offline_;
  /// Nodes back from offline whose rejoin is not decided yet.
  struct pending_return {
    int64_t apart_since = 0;
    int64_t back = 0;
    int64_t deadline = 0;
    /// Its spore arrived in a sync: decide on the next occasion.
    bool heard = false;
  };
  std::map<std::string, pending_return> pending_returns_;
  /// Returns decided within one sync interval form one section event.
  struct section {
    int64_t deadline = 0;
    int64_t apart_since = 0;
    rejoin decision = rejoin::independent;
    std::set<std::string> nodes;
  };
  std::optional<section> section_;
  section& open_section(wall_ms wall);
  int64_t next_sync_ = 0;
  int64_t last_slot_ = -1;
  uint64_t bytes_sent_ = 0;
};

/// Bytes of a message on the wire (the codec's size), for the figures.
size_t wire_size(const sync_message& msg);

} // namespace mycelium::spores
