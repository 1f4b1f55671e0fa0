#pragma once

/// Spores: what the network remembers of every node it has met (the seed's
/// P2P Latent Spore) and of itself (the Master Seed Spore).
///
/// Every field merges as a join semilattice, so merging spores is
/// commutative, associative and idempotent and any two nodes that have seen
/// the same updates hold the same bytes, in whatever order they arrived:
///  - the node pointer (addresses, name, incarnation) is written by the node
///    itself and merges last-writer-wins, ordered by incarnation, then by
///    hybrid logical clock window, then by a content digest (see lww_compare);
///  - activity is a set of time slots (one slot = `slot_ms`) in which some
///    observer saw the node alive, kept as sorted ranges; merging is union,
///    and observers that see the same thing write the same slots;
///  - first seen is the minimum, the data summary is the node's own report
///    (last-writer-wins like the pointer).

#include "mycelium/core/hlc.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mycelium::spores {

/// A closed range of activity slots [first, last].
struct slot_range {
  int64_t first = 0;
  int64_t last = 0;
  bool operator==(const slot_range& o) const {
    return first == o.first && last == o.last;
  }
};

/// An interval of wall-clock time in milliseconds [start_ms, end_ms).
struct period {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

struct node_pointer {
  std::vector<std::string> addresses;
  std::string name;
  uint64_t incarnation = 0;
  /// When the node wrote it; zero when an observer created the pointer from
  /// what membership told it (the node's own write always wins).
  hlc_stamp stamp;
};

struct data_summary {
  uint64_t data_bytes = 0;
  uint64_t processed_ops = 0;
  hlc_stamp stamp;
};

struct latent_spore {
  std::string node_id;
  node_pointer pointer;
  /// Wall ms when any node first met it; 0 when unknown.
  int64_t first_seen_ms = 0;
  std::vector<slot_range> activity;
  data_summary summary;

  /// The last slot in which it was seen active, or nothing.
  std::optional<int64_t> last_active_slot() const;
};

struct master_spore {
  std::string network_id;
  uint32_t protocol_min = 0;
  uint32_t protocol_max = 0;
  std::vector<std::string> seeds;
  /// Raised by an operator when network-wide settings change.
  uint64_t epoch = 0;
  /// Digest of the network-wide settings (hex).
  std::string settings_digest;
  hlc_stamp stamp;
};

/// Merge parameters every node of a network must share.
struct merge_rules {
  /// Stamps in the same window are concurrent (see lww_compare).
  int64_t lww_tolerance_ms = 1000;
};

/// 64-bit FNV-1a digests of the canonical content (stable across runs and
/// machines; used for tie-breaks and for sync digests).
uint64_t digest(const latent_spore& s);
uint64_t digest(const master_spore& m);
uint64_t digest(const node_pointer& p);

/// Sorted, disjoint, non-adjacent ranges covering the same slots.
std::vector<slot_range> normalise(std::vector<slot_range> ranges);

/// Adds one slot (keeps the ranges normalised); true when it was new.
bool add_slot(std::vector<slot_range>& ranges, int64_t slot);

/// `into` becomes the merge of `into` and `other` (same node id); true
/// when `into` changed.
bool merge(latent_spore& into, const latent_spore& other,
           const merge_rules& rules);
bool merge(master_spore& into, const master_spore& other,
           const merge_rules& rules);

bool operator==(const latent_spore& a, const latent_spore& b);
inline bool operator!=(const latent_spore& a, const latent_spore& b) {
  return !(a == b);
}
bool operator==(const master_spore& a, const master_spore& b);

/// Every known node's spore, by node id.
using spore_set = std::map<std::string, latent_spore>;

/// Merges `other` into `into`; returns the ids whose spore changed.
std::vector<std::string> merge(spore_set& into, const spore_set& other,
                               const merge_rules& rules);

/// Activity slots as wall-clock periods.
std::vector<period> periods(const std::vector<slot_range>& ranges,
                            int64_t slot_ms);

/// How a node or a section of the network that reappears must rejoin after
/// being apart in slots [apart_since_slot, back_slot): if both sides were
/// active in a common slot while apart, data may have diverged and a sync
/// is required; otherwise one side was idle and the fast path applies.
enum class rejoin { independent, sync_required };
const char* to_string(rejoin r);
rejoin decide_rejoin(const std::vector<slot_range>& theirs,
                     const std::vector<slot_range>& ours,
                     int64_t apart_since_slot, int64_t back_slot);

/// The activity of a whole section: the union of its members' slots.
std::vector<slot_range> section_activity(const spore_set& spores,
                                         const std::vector<std::string>& ids);

} // namespace mycelium::spores
