#pragma once

/// Isolation controller core: decides when this node has lost the network
/// and must stop accepting writes, and when it may take them again.
///
/// A node is *alone* when it knows other nodes (members it saw, spores it
/// keeps) but reaches none of them: membership shows none alive or suspect,
/// or the transport heard no byte from any peer for `silence_ms` (every
/// live connection carries a keepalive at least every
/// transport.keepalive_ms, and every dial failed or timed out). The second
/// is the evidence of a cut-off node, whose own membership slows its
/// probing (Lifeguard's local health) and would see its peers fail only
/// seconds later. Alone for `grace_ms`, it is *isolated*:
/// the Global Database turns read-only (reads go on) and every address the
/// node knows is handed to the transport, which keeps dialing it with its
/// exponential backoff. Any peer reachable again ends the isolation at once
/// (reappearance detection): the node is *connected* and writable, and the
/// Global Database's anti-entropy merges what either side did.
///
/// An operator may *override* an isolation that lasted `override_after_ms`
/// (so a short outage heals without a human), or at once with force, and
/// `auto_override_after_ms` does it without one. Either way the node's
/// resources are evaluated first (free disk, stores that cannot write): an
/// override on a node that cannot persist would acknowledge writes it might
/// lose. An override whose resources fail later is revoked (read-only
/// again). A node that has never known another node is a network of one,
/// never isolated; nodes that left gracefully do not count.
///
/// Inputs are values (`now` as wall time, since the state outlives the
/// process); the core reads no clock and keeps no randomness.

#include "mycelium/core/result.hpp"
#include "mycelium/core/time.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace mycelium::isolation {

/// Error codes of the "isolation" domain.
enum class errc : uint8_t {
  /// An override while the node is not isolated.
  not_isolated = 1,
  /// An override before `override_after_ms` (without force).
  too_early = 2,
  /// An override refused by the resource evaluation.
  insufficient_resources = 3,
  /// A stored state that does not decode.
  bad_state = 4,
  /// A revoke while no override is in force.
  not_overridden = 5,
};

enum class mode : uint8_t {
  /// Reaches a peer (or knows none): writable.
  connected,
  /// Alone for longer than the grace period: read-only.
  isolated,
  /// Isolated, but writable by an operator's (or the automatic) override.
  overridden,
};

const char* to_string(mode m);

struct settings {
  /// Off: the node never turns read-only by itself.
  bool enabled = true;
  /// Alone this long before turning read-only.
  int64_t grace_ms = 10000;
  /// An override (without force) needs the isolation to have lasted this.
  int64_t override_after_ms = 60000;
  /// Override automatically after this long (0: never).
  int64_t auto_override_after_ms = 0;
  /// Free disk below this fraction refuses (and revokes) an override.
  double min_disk_free_ratio = 0.05;
  /// Nothing heard from any peer this long counts as reaching nobody,
  /// whatever membership shows (0: membership alone decides).
  int64_t silence_ms = 2000;
};

/// A known node this one does not reach.
struct known_node {
  std::string id;
  std::string name;
  std::vector<std::string> addresses;
};

/// What the node sees of the network at one moment.
struct view {
  /// Peers reachable now (members alive or suspect, other than us).
  int64_t reachable = 0;
  /// Nodes known but not reachable (left members excluded).
  std::vector<known_node> unreachable;
  /// The transport's evidence: ms since it last heard any peer (-1: not
  /// known).
  int64_t heard_ago_ms = -1;
  /// The members counted in `reachable`: unreachable too when the
  /// transport heard nobody for `silence_ms`.
  std::vector<known_node> reachable_nodes = {};
};

/// What membership last said of a member, as the controller needs it.
struct member_seen {
  enum class status : uint8_t {
    /// Alive or suspect: reachable.
    reachable,
    /// Declared failed: known and not reachable.
    failed,
    /// Left gracefully: counts neither way.
    left,
  };
  std::string id;
  std::string name;
  std::string address;
  status st = status::reachable;
};

/// The view from membership's members and the spore tracker's known nodes
/// (`spores`, which keep addresses of nodes offline for long): a member
/// reachable now counts as reachable, one that left gracefully not at all,
/// and every other known node (failed members, offline spores) as
/// unreachable with every address known of it. `self` is never counted.
/// `heard_ago_ms` is the transport's evidence (-1: not known).
view make_view(const std::vector<member_seen>& members,
               const std::vector<known_node>& spores, const std::string& self,
               int64_t heard_ago_ms);

/// What the node has to keep writes safe.
struct resources {
  /// Free fraction of the data dir's file system (1 when unknown).
  double disk_free_ratio = 1;
  /// Components whose store writes fail now.
  std::vector<std::string> failing_stores;
};

struct event {
  enum class type : uint8_t {
    isolated,
    rejoined,
    overridden,
    override_revoked,
  };
  type what = type::isolated;
  wall_ms at = 0;
  /// One line for the log: why, for how long, by whom.
  std::string detail;
};

const char* to_string(event::type t);

struct effects {
  /// The mode changed: persist the state and tell the Global Database.
  bool changed = false;
  /// Addresses to hand to the transport (dialed with its backoff).
  std::vector<std::string> dial;
  std::vector<event> events;
};

/// The persisted part of the state.
struct state {
  mode current = mode::connected;
  /// When the node was last found alone (0: it is not).
  wall_ms alone_since = 0;
  /// When the current isolation began (0: not isolated).
  wall_ms isolated_since = 0;
  /// The override in force: when, by whom, why.
  wall_ms overridden_at = 0;
  std::string overridden_by;
  std::string override_reason;
};

class isolation_core {
public:
  explicit isolation_core(settings s) : settings_(s) {}

  /// Takes the current view and resources: every tick and on each
  /// membership change.
  effects observe(const view& v, const resources& r, wall_ms now);

  /// An override by `by` (operator text, or "auto") for `reason`.
  /// `force` skips the wait of `override_after_ms`, never the resource
  /// evaluation.
  result<effects> override_isolation(const std::string& by,
                                     const std::string& reason, bool force,
                                     const resources& r, wall_ms now);

  /// Ends an override: read-only again until a peer is back.
  result<effects> revoke(const std::string& by, wall_ms now);

  /// True while writes must be refused.
  bool read_only() const { return state_.current == mode::isolated; }

  /// Why writes are refused (empty when they are not), for the error text.
  std::string read_only_reason() const;

  /// Empty when `r` is enough to take writes, else each shortfall.
  std::vector<std::string> shortfalls(const resources& r) const;

  const state& current() const { return state_; }
  const settings& config() const { return settings_; }
  /// Addresses handed to the transport during this isolation.
  const std::set<std::string>& dialed() const { return dialed_; }

  /// The state as JSON text (stored by the actor).
  std::string save() const;
  /// Restores a saved state; bad_state when it does not decode.
  status load(const std::string& text);

  /// Whether `v` carries the transport's evidence of reaching nobody.
  bool silent(const view& v) const;

  /// `v` as the controller takes it: with the transport's evidence of
  /// silence, the members membership shows reachable are unreachable.
  view effective(const view& v) const;

private:
  effects leave_isolation(const view& v, wall_ms now);

  settings settings_;
  state state_;
  std::set<std::string> dialed_;
};

} // namespace mycelium::isolation
