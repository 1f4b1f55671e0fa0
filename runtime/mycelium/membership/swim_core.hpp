#pragma once

/// Membership: SWIM failure detection and dissemination with the Lifeguard
/// extensions, as a pure state machine (no sockets, no clock reads, a seeded
/// PRNG). The membership actor and `mycelium-sim` drive the same code.
///
/// Protocol (Das et al., SWIM, 2002; Dadgar et al., Lifeguard, 2017; the
/// shape of HashiCorp memberlist):
/// - Every probe period one member, taken in a shuffled round-robin order, is
///   pinged. Without an ack within the probe timeout, `indirect_checks` other
///   members are asked to ping it (ping-req); they relay its ack, or a nack
///   when it stays silent. Without any ack by the end of the period the
///   member becomes suspect.
/// - Suspicion: the member may refute by gossiping `alive` with a higher
///   incarnation. The suspicion timeout starts at its maximum and shrinks
///   toward its minimum (alpha * log10(N) probe periods) as independent
///   members confirm the suspicion; when it expires the member is failed.
/// - Lifeguard: a node that misses acks and nacks, or has to refute, raises
///   its local health score and slows down (probe interval and timeout times
///   score + 1), so a slow node stops accusing healthy ones. A suspected node
///   is told directly (the suspect update leads the piggyback of our pings to
///   it), so it refutes at once.
/// - Updates (alive, suspect, failed, left) ride on every message, each up to
///   retransmit_mult * ceil(log10(N + 1)) times, are also gossiped to a few
///   members every gossip interval, and a periodic push-pull exchanges the
///   full state with one member (repairs what gossip missed, joins).
/// - Incarnation numbers only grow; a node's own incarnation is persisted by
///   the shell (`effects::persist_incarnation`), so a node restarted after
///   being declared failed refutes its old death at once.
/// Precedence of updates about one member: higher incarnation wins; at equal
/// incarnation left > failed > suspect > alive.

#include "mycelium/core/prng.hpp"
#include "mycelium/core/time.hpp"
#include "mycelium/membership/config.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace mycelium::membership {

/// A member's state. Append-only values (persisted and on the wire).
enum class state : uint8_t { alive = 0, suspect = 1, failed = 2, left = 3 };

const char* to_string(state s);

/// What one node believes about one member (also the gossiped update).
struct update {
  std::string id;
  std::string address;
  std::string name;
  uint64_t incarnation = 0;
  state st = state::alive;
  /// Suspect only: who suspected first (relays keep it); empty means the
  /// sender itself.
  std::string accuser;

  update() = default;
  update(std::string id_, std::string address_, std::string name_,
         uint64_t incarnation_ = 0, state st_ = state::alive,
         std::string accuser_ = {})
      : id(std::move(id_)), address(std::move(address_)),
        name(std::move(name_)), incarnation(incarnation_), st(st_),
        accuser(std::move(accuser_)) {}
};

/// A membership message. `kind` decides which fields matter.
struct message {
  enum class type : uint8_t {
    ping = 0,
    ack = 1,
    ping_req = 2,
    nack = 3,
    gossip = 4,
    push_pull = 5,
    push_pull_reply = 6,
  };
  type kind = type::ping;
  uint32_t seq = 0;
  /// ping_req: the member to probe.
  std::string target;
  std::string target_address;
  std::vector<update> updates;
};

/// A message to send to a member.
struct outgoing {
  std::string to;
  std::string address;
  message msg;
};

/// Something the rest of the node wants to know.
struct event {
  enum class type : uint8_t {
    joined,
    suspect,
    failed,
    left,
    recovered,
    address_changed,
  };
  type what = type::joined;
  update member;
};

const char* to_string(event::type t);

struct effects {
  std::vector<outgoing> sends;
  std::vector<event> events;
  /// Persist our new incarnation before these sends leave.
  std::optional<uint64_t> persist_incarnation;
  /// Our probe was answered after this long (directly or relayed).
  std::optional<duration> probe_rtt;
};

/// One member as the console shows it.
struct member_view {
  update info;
  /// When it entered its current state.
  time_point since{};
  /// When we last heard from it directly.
  time_point last_heard{};
};

class swim_core {
public:
  /// `incarnation` is the persisted one (0 on first start); `lifeguard`
  /// false disables local health awareness and suspicion shrinking, for
  /// comparison in the simulator.
  swim_core(membership_config cfg, update self, uint64_t seed,
            bool lifeguard = true);
  swim_core(swim_core&&) noexcept;
  swim_core& operator=(swim_core&&) noexcept;
  ~swim_core();

  /// A member we can reach directly (a seed the transport connected to):
  /// added if unknown, and a push-pull starts the join.
  effects on_contact(const std::string& id, const std::string& address,
                     const std::string& name, time_point now);

  /// A message from member `from`.
  effects on_message(const std::string& from, const message& msg,
                     time_point now);

  /// Timers: probes, timeouts, suspicion, gossip, push-pull.
  effects on_tick(time_point now);

  /// Graceful leave: tells everyone; the node should stop after a short
  /// dissemination delay.
  effects leave(time_point now);

  const update& self() const { return self_; }
  std::vector<member_view> members() const;
  std::optional<member_view> find(const std::string& id) const;

  /// State and incarnation of a member, without copying its strings.
  std::optional<std::pair<state, uint64_t>>
  state_of(const std::string& id) const;

  /// Members in `st` (self excluded).
  size_t count(state st) const;

  /// Members alive (not suspect), self excluded; O(1).
  size_t alive_members() const { return live_ - suspects_.size(); }

  /// Local health score (Lifeguard).
  int64_t health_score() const { return score_; }

  /// Messages sent so far (simulator figures).
  uint64_t messages_sent() const { return sent_; }

private:
  struct member_state;
  struct probe;
  struct relay;

  void apply(const update& u, const std::string& from, time_point now,
             effects& fx);
  void set_state(member_state& m, const update& u, time_point now, effects& fx);
  void refute(uint64_t seen, effects& fx);
  void broadcast(const update& u);
  void send(const std::string& to, message msg, effects& fx,
            const std::string& lead = "");
  void start_probe(time_point now, effects& fx);
  void suspect(member_state& m, const std::string& by, time_point now,
               effects& fx);
  duration suspicion_timeout(const member_state& m) const;
  duration probe_interval() const;
  duration probe_timeout() const;
  std::vector<std::string> random_members(size_t k,
                                          const std::set<std::string>& skip,
                                          bool alive_only = true);
  std::vector<update> full_state() const;
  void adjust_score(int64_t delta);
  size_t alive_count() const;

  membership_config cfg_;
  update self_;
  prng rng_;
  bool lifeguard_;
  /// Hashed: looked up on every message; iteration order is fixed by the
  /// insertion order and the (unseeded) hash, so runs stay deterministic.
  std::unordered_map<std::string, member_state> members_;
  /// The entries of `members_` (nodes do not move), for sampling by index
  /// and the shuffled probe order; no copies of the ids, no lookups.
  using member_entry = std::pair<const std::string, member_state>;
  std::vector<member_entry*> index_;
  std::vector<member_entry*> order_;
  size_t next_ = 0;
  /// The probe in flight (at most one).
  std::unique_ptr<probe> probe_;
  /// Probes we run for others: our seq -> requester.
  std::map<uint32_t, relay> relays_;
  /// Members currently suspect (checked every tick; the table may be big).
  std::set<std::string> suspects_;
  /// Members alive or suspect (kept, not counted, for big tables).
  size_t live_ = 0;
  time_point next_retention_{};
  /// Pending updates and how often each was sent. Each is also linked
  /// into the list of its send count (oldest first), so picking the least
  /// sent to piggyback walks lists instead of searching (the table's nodes
  /// do not move, so the links stay valid).
  struct pending;
  using pending_entry = std::pair<const std::string, pending>;
  struct pending {
    update u;
    int64_t sent = 0;
    pending_entry* prev = nullptr;
    pending_entry* next = nullptr;
  };
  struct pending_list {
    pending_entry* head = nullptr;
    pending_entry* tail = nullptr;
  };
  void link(pending_entry* e);
  void unlink(pending_entry* e);
  std::unordered_map<std::string, pending> broadcasts_;
  std::vector<pending_list> by_count_;
  std::vector<pending_entry*> picked_;
  uint32_t seq_ = 0;
  int64_t score_ = 0;
  uint64_t sent_ = 0;
  time_point next_probe_{};
  time_point next_gossip_{};
  time_point next_push_pull_{};
  time_point next_reconnect_{};
  bool left_ = false;
};

} // namespace mycelium::membership
