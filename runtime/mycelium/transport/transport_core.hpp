#pragma once

/// Transport core: every connection of a node, from raw bytes to verified
/// frames, free of sockets and CAF. The transport actor feeds it socket
/// events and the clock and performs the effects it returns (writes, closes,
/// connects, deliveries to local actors, events to log and count).
///
/// Per connection: TLS 1.2 PSK (see crypto::tls_channel) -> size-prefixed
/// FlatBuffers frames (wire::frame_decoder, verified, bounded) -> the first
/// frame each way is a signed Hello bound to the TLS session -> the highest
/// common protocol version is used, or the connection is refused with a
/// Reject naming both ranges. Console connections (admin PSK identity) skip
/// the Hello and carry console requests.
///
/// Every refusal closes only that connection, names its reason (see
/// `reason`) and is counted; the node keeps serving everyone else.
///
/// Duplicates: a second connection claiming a node id that is already
/// connected is refused (`duplicate_id`) unless it is the same pair of nodes
/// connecting to each other at once; then both sides keep the connection
/// initiated by the lower node id, so they agree without talking. The side
/// that closes the redundant one may do so right after its Hello: the Hello
/// is still verified (its TLS binding is taken when the session is up, not
/// when the Hello is read), and a Hello that arrives with the close of its
/// channel is closed as `closed`, never taken for a forgery.
///
/// Liveness: an established connection that has sent nothing for
/// `keepalive_ms` sends a keepalive (an empty ping, not answered), so a
/// live peer is heard at least that often; one that carried no bytes for
/// `dead_after_ms` is closed (`silent_peer`) and redialled. A silent cut
/// (packets dropped, no refusal) is then noticed in bounded time instead of
/// the kernel's retransmission timeout. `heard_ago` tells how long ago any
/// peer was last heard: the isolation controller's evidence that the node
/// reaches nobody. A frame for a peer without a connection dials it now
/// (within the reconnect backoff's first step), so whoever talks to a lost
/// peer (membership's reconnect, say) brings its connection back.
///
/// Peers: seeds and peers learned from Hellos are reconnected with
/// exponential backoff and jitter. Frames to a peer wait in a bounded
/// per-peer queue while it is not connected or its socket is above the
/// high-water mark; when the queue is full the new frame is dropped and
/// counted (`queue_full`), never an older one, so what was queued stays in
/// order.
///
/// Fault injection (tests only, when the config allows it): per peer, drop,
/// delay or duplicate outgoing frames, or partition traffic in one direction
/// or both. Handshake frames are never affected.

#include "mycelium/core/endpoint.hpp"
#include "mycelium/core/prng.hpp"
#include "mycelium/core/time.hpp"
#include "mycelium/crypto/identity.hpp"
#include "mycelium/crypto/tls_channel.hpp"
#include "mycelium/transport/config.hpp"
#include "mycelium/wire/frame.hpp"
#include "mycelium/wire/hello.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mycelium::transport {

/// Why a connection ended or was refused. Append-only: never renumber.
enum class reason : uint8_t {
  none = 0,
  /// The client's PSK identity names another network.
  wrong_network = 1,
  /// The network matches but the key is none of ours.
  unknown_key = 2,
  /// The identity is known but the key is wrong (bad_record_mac).
  wrong_key = 3,
  /// The peer does not speak TLS.
  not_tls = 4,
  /// TLS and Hello did not complete in time.
  handshake_timeout = 5,
  /// A frame failed verification.
  malformed_frame = 6,
  /// A frame exceeded the maximum size.
  frame_too_large = 7,
  /// A Hello that does not decode or whose id does not match its key.
  bad_hello = 8,
  /// A Hello whose signature does not verify.
  bad_signature = 9,
  /// No protocol version in common.
  version_mismatch = 10,
  /// The node id is already connected from elsewhere.
  duplicate_id = 11,
  /// We connected to ourselves (our own address among the seeds).
  self_connection = 12,
  /// The peer refused us with a Reject.
  peer_rejected = 13,
  /// The peer or the network closed the connection.
  closed = 14,
  /// A frame was dropped because the peer's queue was full.
  queue_full = 15,
  /// A frame of a kind not allowed at that point.
  unexpected_frame = 16,
  /// Our TLS handshake as a client failed (peer refused network or key).
  tls_failed = 17,
  /// Outbound connect failed (refused, unreachable, timeout).
  connect_failed = 18,
  /// We closed it (shutdown, fault injection, superseded duplicate).
  local_close = 19,
  /// A console connection with a wrong admin key.
  bad_admin_key = 20,
  /// Inbound while `max_pending_handshakes` others were in their handshake.
  too_many_handshakes = 21,
  /// The TLS session gave no binding value for the Hello: the channel was
  /// closed before it could be read (the peer closed at once). Not a
  /// forgery: nothing was verified against a wrong value.
  no_binding = 22,
  /// An established connection carried no bytes for `dead_after_ms`: the
  /// path is gone silently (a firewall, a cut cable); closed and redialled.
  silent_peer = 23,
};
/// Reasons are numbered from 1 to this one without gaps.
constexpr reason last_reason = reason::silent_peer;

const char* to_string(reason r);

/// Everything the core needs to know about this node.
struct settings {
  transport_config cfg;
  std::string network_id;
  std::string name;
  /// Our listen address as peers should dial it.
  std::string listen;
  /// Raw isolation keys; the first is used for outgoing connections.
  std::vector<std::string> isolation_keys;
  /// Raw admin key ("" disables the console).
  std::string admin_key;
  std::string software_version;
  std::vector<std::string> capabilities;
  std::vector<endpoint> seeds;
  bool allow_fault_injection = false;
  /// NOT SECURE: connections without TLS, for the plain-TCP baseline of
  /// `mycelium-bench transport` only (no config key reaches this).
  bool plaintext_for_benchmarks = false;
};

/// PSK identity our nodes use for `key`: "<network_id>/<fingerprint>".
std::string peer_identity(const std::string& network_id,
                          const std::string& key);

/// PSK identity of the console.
constexpr const char* admin_identity = "mycelium-admin";

/// Fault rule for one peer ("*" for all).
struct fault_rule {
  std::string peer = "*";
  /// Probability of dropping an outgoing / incoming frame.
  double drop_out = 0;
  double drop_in = 0;
  /// Probability of sending an outgoing frame twice.
  double duplicate = 0;
  /// Extra delay of outgoing frames.
  int64_t delay_ms = 0;
  /// Drop everything outgoing / incoming (partition).
  bool block_out = false;
  bool block_in = false;
};

/// Errors of the transport's own decoders (domain "transport").
enum class errc : uint8_t {
  /// A fault command that is not a valid rule.
  bad_fault_rule = 1,
};

/// A console fault command: clear every rule, or set `rule`.
struct fault_command {
  bool clear = false;
  fault_rule rule;
};

/// Reads a fault command (JSON object: clear, peer, partition in/out/both,
/// drop, drop_in, duplicate as probabilities from 0 to 1, delay_ms from 0 to
/// 3600000). Every field is checked before anything is returned, so a rule
/// applies whole or not at all; the error names the field. `rule.peer` is
/// as given (a name or id prefix the caller resolves).
result<fault_command> parse_fault_command(const std::string& text);

/// A verified frame for a local actor.
struct delivery {
  wire::kind kind = wire::kind::unknown;
  /// Sender's node id ("" on console connections).
  std::string from;
  std::string payload;
  /// The connection it came on (console replies go back on it).
  uint64_t conn = 0;
};

/// Something worth logging and counting.
struct event {
  enum class type : uint8_t { peer_up, peer_down, rejected, dropped, info };
  type what = type::info;
  std::string node_id;
  std::string name;
  /// Remote address of the connection.
  std::string address;
  reason why = reason::none;
  std::string detail;
  /// peer_up: the address the peer listens on (from its Hello).
  std::string listen = {};
};

struct write_op {
  uint64_t conn = 0;
  std::vector<char> bytes;
};

/// What the shell must do after a step.
struct effects {
  std::vector<write_op> writes;
  std::vector<uint64_t> closes;
  std::vector<endpoint> connects;
  std::vector<delivery> deliveries;
  std::vector<event> events;
};

/// One connection as shown by the console's `peers`.
struct connection_info {
  uint64_t id = 0;
  bool outbound = false;
  std::string address;
  /// tls, hello, established, console.
  std::string phase;
  std::string node_id;
  std::string name;
  std::string listen;
  uint16_t version = 0;
  std::string cipher;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  size_t queued_frames = 0;
  uint64_t dropped = 0;
  int64_t age_ms = 0;
};

/// Totals for `peers` and metrics.
struct stats {
  std::map<std::string, uint64_t> rejections;
  uint64_t accepted = 0;
  uint64_t connected = 0;
  uint64_t queue_full_drops = 0;
  uint64_t fault_drops = 0;
};

class transport_core {
public:
  transport_core(settings s, const crypto::node_identity& self, uint64_t seed);
  ~transport_core();

  /// Seeds to dial at start.
  effects start(time_point now);

  /// Remembers `ep` as a peer to keep connected (learned from membership);
  /// a known one that waits for its next attempt is dialled now.
  void add_target(const endpoint& ep, time_point now);

  /// A peer connected to us.
  effects on_accept(uint64_t conn, const std::string& address, time_point now);

  /// Our outbound connection to `target` succeeded.
  effects on_connected(uint64_t conn, const endpoint& target, time_point now);

  /// Our outbound connection to `target` failed.
  effects on_connect_failed(const endpoint& target, const std::string& why,
                            time_point now);

  /// Bytes arrived on `conn`.
  effects on_bytes(uint64_t conn, const char* data, size_t size,
                   time_point now);

  /// The socket of `conn` closed.
  effects on_closed(uint64_t conn, time_point now);

  /// `remaining` bytes wait in the socket's send buffer.
  effects on_write_progress(uint64_t conn, uint64_t remaining, time_point now);

  /// Timeouts, reconnects, delayed frames.
  effects on_tick(time_point now);

  /// Queues a frame for peer `node_id`. With `flush_now` false the frame
  /// waits for `flush_all`, so a burst of sends leaves in few TLS records.
  /// The payload is moved along, not copied, up to the TLS channel.
  effects send(const std::string& node_id, wire::kind k, std::string payload,
               time_point now, bool flush_now = true);

  /// Hands every queued frame to its connection (see `send`).
  effects flush_all(time_point now);

  /// Answers on a console connection.
  effects reply(uint64_t conn, const std::string& payload, time_point now);

  /// Closes every connection (shutdown).
  effects close_all(time_point now);

  /// Installs or replaces the rule for `rule.peer`.
  void set_fault(const fault_rule& rule);
  void clear_faults();
  const std::map<std::string, fault_rule>& faults() const { return faults_; }

  std::vector<connection_info> connections(time_point now) const;
  const stats& totals() const { return stats_; }

  /// Node ids of established peers.
  std::vector<std::string> peers() const;

  /// Milliseconds since bytes last arrived from any peer past its TLS
  /// handshake (since `start` when none ever did).
  int64_t heard_ago(time_point now) const;

  const std::string& node_id() const;

private:
  struct connection;
  struct target;
  struct queued;

  connection* find(uint64_t conn);
  void fail(connection& c, reason why, const std::string& detail, effects& fx,
            bool send_reject = false);
  void feed_tls(connection& c, const char* data, size_t size, effects& fx,
                time_point now);
  void on_established_tls(connection& c, effects& fx, time_point now);
  void on_frame(connection& c, wire::envelope env, effects& fx, time_point now);
  void on_hello(connection& c, const wire::envelope& env, effects& fx,
                time_point now);
  /// Payloads from this size on are not copied into a coalesced chunk.
  static constexpr size_t large_payload_bytes = 16 * 1024;
  void write_frame(connection& c, wire::kind k, std::string payload);
  /// `send` into an existing step's effects (faults, queue bound, flush).
  void enqueue(const std::string& node_id, wire::kind k, std::string payload,
               effects& fx, time_point now, bool flush_now = true);
  void flush(connection& c, effects& fx, bool all = false);
  /// Bytes handed to a connection's TLS channel that the socket has not
  /// written yet (sealed and unwritten, or held before they can be sealed).
  static uint64_t in_flight(const connection& c);
  /// Queues a frame: membership, ping and pong frames go ahead of every
  /// other frame queued for the same peer (in their own order), so failure
  /// detection never waits behind a bulk transfer.
  void push_queued(queued item);
  void flush_queue(const std::string& node_id, effects& fx, time_point now);
  void drop_connection(connection& c, effects& fx, time_point now);
  target* target_for(const std::string& endpoint);
  void schedule_retry(target& t, time_point now);
  /// Closes silent connections, sends keepalives on idle ones.
  void check_liveness(effects& fx, time_point now);
  /// A frame waits for `node_id`, which has no connection: dial it soon.
  void dial_on_demand(const std::string& node_id, time_point now);
  bool satisfied(const target& t) const;
  const fault_rule* fault_for(const std::string& node_id) const;

  settings settings_;
  const crypto::node_identity& self_;
  prng rng_;
  std::shared_ptr<const crypto::psk_table> psks_;
  std::map<uint64_t, std::unique_ptr<connection>> conns_;
  /// Established peer -> its connection.
  std::map<std::string, uint64_t> by_node_;
  std::map<std::string, std::unique_ptr<target>> targets_;
  /// Per-peer outbound queues; the first `urgent_queued_` frames of each
  /// are urgent ones (see `push_queued`).
  std::map<std::string, std::deque<queued>> queues_;
  std::map<std::string, size_t> queue_bytes_;
  std::map<std::string, size_t> urgent_queued_;
  std::map<std::string, fault_rule> faults_;
  /// Frames held back by a delay fault.
  std::deque<std::pair<time_point, queued>> delayed_;
  /// Last bytes from a peer past its TLS handshake (see `heard_ago`).
  time_point last_heard_{};
  stats stats_;
};

} // namespace mycelium::transport
