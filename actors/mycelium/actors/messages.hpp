#pragma once

/// Every atom and local message type of the actor layer, in one place
/// (STYLE.md: "message types and atoms are registered in one place").
///
/// These messages never leave the process: nodes talk through the transport's
/// FlatBuffers frames, so local structs are allowed as unsafe (unserialised)
/// message types.

#include "mycelium/core/error.hpp"
#include "mycelium/core/result.hpp"
#include "mycelium/health/monitor_core.hpp"
#include "mycelium/isolation/isolation_core.hpp"
#include "mycelium/membership/swim_core.hpp"
#include "mycelium/spores/tracker_core.hpp"
#include "mycelium/supervision/supervisor_core.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace mycelium::actors {

// -- atoms (at most 10 characters in CAF 0.17) --------------------------------

/// Stop every child in reverse start order, then exit normally.
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
/// Internal: a supervisor's start timer fired.
using start_atom = caf::atom_constant<caf::atom("start")>;
/// Internal: a child did not stop within the shutdown timeout.
using stop_tout_atom = caf::atom_constant<caf::atom("stop_tout")>;
/// Subscribe to a root supervisor's event log.
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
/// A supervision event (child supervisor -> parent -> subscribers).
using event_atom = caf::atom_constant<caf::atom("event")>;
/// Ask a supervisor for its subtree.
using tree_atom = caf::atom_constant<caf::atom("tree")>;
/// Fault injection: crash the actor at a path.
using crash_atom = caf::atom_constant<caf::atom("crash")>;
/// Ask an actor for its status.
using status_atom = caf::atom_constant<caf::atom("status")>;
/// Internal: the health monitor's sampling timer.
using sample_atom = caf::atom_constant<caf::atom("sample")>;
/// Ask an actor to answer (liveness check, benchmarks).
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
/// Send a frame to a peer: (send_atom, node_id, kind, payload).
using send_atom = caf::atom_constant<caf::atom("send")>;
/// A verified frame from a peer: (frame_atom, from, kind, payload).
using frame_atom = caf::atom_constant<caf::atom("frame")>;
/// Ask the transport for its connections and counters (JSON text).
using peers_atom = caf::atom_constant<caf::atom("peers")>;
/// Fault injection in the transport: (fault_atom, rule as JSON text).
using fault_atom = caf::atom_constant<caf::atom("fault")>;
/// Internal: an outbound connect finished (fd) or failed (reason).
using connected_atom = caf::atom_constant<caf::atom("connected")>;
using conn_fail_atom = caf::atom_constant<caf::atom("conn_fail")>;
/// A peer completed its handshake: (contact_atom, node_id, listen, name)
/// from the transport to the membership actor.
using contact_atom = caf::atom_constant<caf::atom("contact")>;
/// Keep a connection to an address: (connect_atom, "host:port").
using connect_atom = caf::atom_constant<caf::atom("connect")>;
/// Ask the membership actor for its member table (JSON text).
using members_atom = caf::atom_constant<caf::atom("members")>;
/// A membership event pushed to subscribers: (member_atom,
/// membership::event), the member as the event left it.
using member_atom = caf::atom_constant<caf::atom("member")>;
/// Internal: hand queued frames to their sockets (after a burst of sends).
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Internal: transport housekeeping timer.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Console: every known node's spore; one node's spore.
using spores_atom = caf::atom_constant<caf::atom("spores")>;
using spore_atom = caf::atom_constant<caf::atom("spore")>;
/// Spore tracker -> subscribers: (spore_ev_atom, spores::tracker_event).
using spore_ev_atom = caf::atom_constant<caf::atom("spore_ev")>;
/// Console -> Global Database: a `db` command (arguments as a JSON array).
using db_atom = caf::atom_constant<caf::atom("db")>;
/// Typed Global Database requests for other subsystems (the console's `db`
/// command is for people): (put_atom, key, text) -> bool writes a
/// last-writer-wins text value, persisted before the answer; (del_atom,
/// key) -> bool deletes; (scan_atom, prefix) -> gdb_rows reads every key
/// under a prefix. A refusal is the error (read_only, store_failed, ...).
using put_atom = caf::atom_constant<caf::atom("put")>;
using del_atom = caf::atom_constant<caf::atom("del")>;
using scan_atom = caf::atom_constant<caf::atom("scan")>;
/// Console -> alerting: an alerts command (arguments as a JSON array).
using alerts_atom = caf::atom_constant<caf::atom("alerts")>;
/// Internal: a notification worker finished (channel, error or "").
using notified_atom = caf::atom_constant<caf::atom("notified")>;
/// A console request (transport -> console) or reply (console ->
/// transport): (console_atom, connection, JSON text).
using console_atom = caf::atom_constant<caf::atom("console")>;
/// Console -> isolation controller: an `isolation` command (arguments as a
/// JSON array).
using isolation_atom = caf::atom_constant<caf::atom("isolation")>;
/// Isolation controller -> subscribers: (mode_atom, bool read_only, reason)
/// now and on every change.
using mode_atom = caf::atom_constant<caf::atom("mode")>;
/// Isolation controller -> transport: milliseconds since any peer was last
/// heard (int64_t answer), the evidence that the node reaches nobody.
using heard_atom = caf::atom_constant<caf::atom("heard")>;
/// Isolation controller -> spore tracker: (known_atom) -> known_nodes,
/// every node the tracker keeps a spore of.
using known_atom = caf::atom_constant<caf::atom("known")>;
/// Membership, spore tracker -> transport: (links_atom) -> transport_links,
/// the established peers and the frames carried.
using links_atom = caf::atom_constant<caf::atom("links")>;
/// Internal: the Global Database looks for the isolation controller until
/// it knows the node's mode (writes wait for it).
using mode_wait_atom = caf::atom_constant<caf::atom("mode_wait")>;
/// Console -> service manager: a `service` command (arguments as JSON).
using service_atom = caf::atom_constant<caf::atom("service")>;
/// Service manager -> merge strategy: (merge_atom, service, winner record,
/// loser record) -> merged state.
using merge_atom = caf::atom_constant<caf::atom("merge")>;

// -- errors -------------------------------------------------------------------

/// Actor-layer failures. Append-only: never renumber.
enum class errc : uint8_t {
  /// A crash injected on purpose (console kill, tests).
  fault_injected = 1,
  /// A supervisor exceeded its restart intensity and gave up.
  restart_intensity = 2,
  /// A persistence call failed inside an actor.
  store_failed = 3,
  /// No actor at the path a request named.
  no_such_actor = 4,
  /// A request is refused by configuration (e.g. fault injection off).
  refused = 5,
  /// A request named something (a node, a key) that is not known.
  not_found = 6,
  /// A request is malformed or breaks a limit (bad key, type mismatch...).
  bad_request = 7,
  /// The Global Database is in read-only mode.
  read_only = 8,
};

const char* to_string(errc code);

/// The CAF error category of `errc`.
constexpr caf::atom_value error_category = caf::atom("mycelium");

/// Builds a `caf::error` with a context message.
caf::error make_error(errc code, std::string context);

/// Converts a runtime `mycelium::error` (store, config, ...) into a CAF error.
caf::error to_caf_error(const mycelium::error& err);

/// For the start-up steps of a subsystem actor (open its store, load its
/// state): true when `r` holds a value; otherwise the actor quits with the
/// cause, and its supervisor decides what happens next.
template <class Self, class T>
bool started_ok(Self* self, const result<T>& r) {
  if (r)
    return true;
  self->quit(to_caf_error(r.err()));
  return false;
}

/// Renders any error as one line of text (without an actor system).
std::string describe(const caf::error& err);

// -- local names --------------------------------------------------------------

/// The actor registered under `name` ("transport", "membership", ...), or an
/// invalid handle. Subsystems find siblings this way, so a restarted one is
/// found again without re-wiring.
caf::actor registered(caf::actor_system& sys, const char* name);

/// Registers `who` under `name`, replacing an earlier holder (a restarted
/// subsystem registers again). CAF 0.17's registry `put` keeps an existing
/// entry, so a plain `put` would leave the dead predecessor registered.
void register_as(caf::actor_system& sys, const char* name,
                 const caf::actor& who);

/// Subscribes `self` to the actor registered as `name` when that is not
/// `followed` any more (at first, and again after the actor restarted).
template <class Self>
void follow(Self* self, caf::actor& followed, const char* name) {
  auto current = registered(self->home_system(), name);
  if (current && current != followed) {
    followed = current;
    self->send(current, subscribe_atom::value);
  }
}

/// The words of a console command forwarded as a JSON array (a word that
/// is not a string is taken as its JSON text); empty when `args_json` is
/// not an array.
std::vector<std::string> command_words(const std::string& args_json);

/// Whether a member in state `s` is reachable: alive or suspect.
inline bool member_reachable(membership::state s) {
  return s == membership::state::alive || s == membership::state::suspect;
}

/// Removes `who` from a list of subscribers (on its down message).
void forget(std::vector<caf::actor>& subscribers, const caf::actor_addr& who);

// -- messages -----------------------------------------------------------------

/// The keys under a prefix (answer to scan_atom), in key order.
struct gdb_rows {
  /// Keys whose value is one text (a last-writer-wins register), with it.
  std::vector<std::pair<std::string, std::string>> texts;
  /// Other keys there, with their type ("counter", "set", "mv" with
  /// concurrent values): anyone may write anywhere with `db put`.
  std::vector<std::pair<std::string, std::string>> others;
};

/// Every node the spore tracker knows (answer to known_atom).
struct known_nodes {
  std::vector<isolation::known_node> nodes;
};

/// What the transport carries now (answer to links_atom).
struct transport_links {
  struct peer {
    std::string node_id;
    std::string name;
    /// The address it listens on (from its Hello).
    std::string listen;
  };
  std::vector<peer> established;
  /// Frames in and out on every connection open now.
  uint64_t frames = 0;
};

/// A batch of supervision events (reply to `subscribe`).
struct event_batch {
  /// Boot id of the root supervisor that numbered them.
  std::string boot;
  std::vector<health::supervision_event> events;
};

/// One row of a supervision tree, as the console shows it.
struct tree_row {
  /// Path, e.g. "node/health".
  std::string path;
  /// "supervisor" or "worker".
  std::string kind;
  std::string strategy;
  std::string restart;
  std::string state;
  int64_t restarts = 0;
  std::string last_reason;
  int64_t last_failure_ms = 0;
  /// Milliseconds since this incarnation started (0 when not running).
  int64_t uptime_ms = 0;
};

using tree_rows = std::vector<tree_row>;

} // namespace mycelium::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mycelium::health::supervision_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mycelium::membership::event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mycelium::spores::tracker_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mycelium::actors::event_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mycelium::actors::gdb_rows)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mycelium::actors::known_nodes)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mycelium::actors::transport_links)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mycelium::actors::tree_rows)
