#include "mycelium/transport/transport_core.hpp"

#include "mycelium/crypto/errc.hpp"
#include "mycelium/json/json.hpp"

#include <algorithm>
#include <cmath>

namespace mycelium::transport {

const char* to_string(reason r) {
  switch (r) {
  case reason::none:
    return "none";
  case reason::wrong_network:
    return "wrong_network";
  case reason::unknown_key:
    return "unknown_key";
  case reason::wrong_key:
    return "wrong_key";
  case reason::not_tls:
    return "not_tls";
  case reason::handshake_timeout:
    return "handshake_timeout";
  case reason::malformed_frame:
    return "malformed_frame";
  case reason::frame_too_large:
    return "frame_too_large";
  case reason::bad_hello:
    return "bad_hello";
  case reason::bad_signature:
    return "bad_signature";
  case reason::version_mismatch:
    return "version_mismatch";
  case reason::duplicate_id:
    return "duplicate_id";
  case reason::self_connection:
    return "self_connection";
  case reason::peer_rejected:
    return "peer_rejected";
  case reason::closed:
    return "closed";
  case reason::queue_full:
    return "queue_full";
  case reason::unexpected_frame:
    return "unexpected_frame";
  case reason::tls_failed:
    return "tls_failed";
  case reason::connect_failed:
    return "connect_failed";
  case reason::local_close:
    return "local_close";
  case reason::bad_admin_key:
    return "bad_admin_key";
  case reason::too_many_handshakes:
    return "too_many_handshakes";
  case reason::no_binding:
    return "no_binding";
  case reason::silent_peer:
    return "silent_peer";
  }
  return "unknown";
}

result<fault_command> parse_fault_command(const std::string& text) {
  auto refuse = [](const std::string& what) {
    return error{"transport", static_cast<uint8_t>(errc::bad_fault_rule),
                 "bad fault rule: " + what};
  };
  auto cmd = json::parse(text, nullptr, false);
  if (!cmd.is_object())
    return refuse("expected a JSON object");
  auto bad = [&](const char* key, const std::string& expected) {
    return refuse(std::string{key} + " must be " + expected + ", not " +
                  cmd[key].dump());
  };
  fault_command out;
  if (cmd.contains("clear")) {
    if (!cmd["clear"].is_boolean())
      return bad("clear", "true or false");
    out.clear = cmd["clear"].get<bool>();
  }
  auto& rule = out.rule;
  std::string partition;
  for (auto [key, field] :
       {std::pair{"peer", &rule.peer}, {"partition", &partition}})
    if (cmd.contains(key)) {
      if (!cmd[key].is_string())
        return bad(key, "a string");
      *field = cmd[key].get<std::string>();
    }
  for (auto [key, field] : {std::pair{"drop", &rule.drop_out},
                            {"drop_in", &rule.drop_in},
                            {"duplicate", &rule.duplicate}})
    if (cmd.contains(key)) {
      auto& v = cmd[key];
      if (!v.is_number() || !(v.get<double>() >= 0.0 && v.get<double>() <= 1.0))
        return bad(key, "a probability from 0 to 1");
      *field = v.get<double>();
    }
  if (cmd.contains("delay_ms")) {
    auto& v = cmd["delay_ms"];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
        v.get<int64_t>() > 3600000)
      return bad("delay_ms", "whole milliseconds from 0 to 3600000");
    rule.delay_ms = v.get<int64_t>();
  }
  rule.block_out = partition == "out" || partition == "both";
  rule.block_in = partition == "in" || partition == "both";
  if (!partition.empty() && !rule.block_out && !rule.block_in)
    return refuse("partition must be in, out or both, not '" + partition + "'");
  return out;
}

std::string peer_identity(const std::string& network_id,
                          const std::string& key) {
  return network_id + "/" + crypto::key_fingerprint(key);
}

namespace {

/// Label of the TLS exporter that binds a Hello to its session.
constexpr const char* hello_binding_label = "EXPORTER-mycelium-hello";

} // namespace

struct transport_core::connection {
  enum class phase : uint8_t { tls, hello, established, console, dead };

  uint64_t id = 0;
  bool outbound = false;
  std::string address;
  /// Outbound: the endpoint we dialed.
  std::string target;
  std::unique_ptr<crypto::tls_channel> tls;
  wire::frame_decoder decoder;
  phase ph = phase::tls;
  time_point opened{};
  wire::hello peer;
  uint16_t version = 0;
  /// The TLS exporter value the Hellos of this session are bound to, taken
  /// when the session came up (a channel closed later cannot export it).
  std::string binding;
  /// When bytes last arrived (or the connection opened).
  time_point last_in{};
  /// `frames_out` when it last changed, and when: an established
  /// connection that sent nothing for keepalive_ms sends a keepalive.
  uint64_t idle_mark = 0;
  time_point idle_since{};
  /// Frame bytes not yet handed to TLS, in order: small frames coalesced
  /// into one chunk (few records), a large payload as a chunk of its own
  /// (moved in, never copied). The first `pending_sent` bytes of the front
  /// chunk are encrypted already; `pending_bytes` are not.
  std::deque<std::string> pending;
  size_t pending_sent = 0;
  size_t pending_bytes = 0;
  /// Bytes handed to the socket layer and not yet written (from the last
  /// write report, plus what went out since).
  uint64_t unwritten = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t dropped = 0;

  explicit connection(uint32_t max_frame) : decoder(max_frame) {}
};

struct transport_core::target {
  endpoint ep;
  int attempts = 0;
  time_point next_try{};
  bool connecting = false;
  /// The endpoint is our own address: never dial it again.
  bool self = false;
  /// Outbound connection in progress or established (0 if none).
  uint64_t conn = 0;
  /// Node id learned from its Hello.
  std::string node_id;
  /// When it was last dialled (on demand at most once per initial backoff).
  time_point last_dial{};
};

struct transport_core::queued {
  std::string node_id;
  wire::kind k = wire::kind::unknown;
  std::string payload;
};

transport_core::transport_core(settings s, const crypto::node_identity& self,
                               uint64_t seed)
    : settings_(std::move(s)), self_(self), rng_(seed) {
  auto table = std::make_shared<crypto::psk_table>();
  for (auto& key : settings_.isolation_keys)
    table->push_back({peer_identity(settings_.network_id, key), key, "peer"});
  // Standard clients (openssl s_client -psk_identity NETWORK_ID) use the
  // plain network id; it maps to the key we use ourselves.
  if (!settings_.isolation_keys.empty())
    table->push_back(
        {settings_.network_id, settings_.isolation_keys.front(), "peer"});
  if (!settings_.admin_key.empty())
    table->push_back({admin_identity, settings_.admin_key, "admin"});
  psks_ = std::move(table);
}

transport_core::~transport_core() = default;

const std::string& transport_core::node_id() const {
  return self_.node_id();
}

transport_core::connection* transport_core::find(uint64_t conn) {
  auto i = conns_.find(conn);
  return i == conns_.end() ? nullptr : i->second.get();
}

transport_core::target*
transport_core::target_for(const std::string& endpoint) {
  auto i = targets_.find(endpoint);
  return i == targets_.end() ? nullptr : i->second.get();
}

effects transport_core::start(time_point now) {
  last_heard_ = now;
  for (auto& seed : settings_.seeds) {
    auto key = seed.to_string();
    if (key == settings_.listen || targets_.count(key) != 0)
      continue;
    auto t = std::make_unique<target>();
    t->ep = seed;
    t->next_try = now;
    targets_.emplace(key, std::move(t));
  }
  return on_tick(now);
}

void transport_core::add_target(const endpoint& ep, time_point now) {
  auto key = ep.to_string();
  if (key == settings_.listen)
    return;
  if (auto* t = target_for(key)) {
    // Known and waiting out its backoff: someone saw it alive, dial now.
    if (!t->self && !satisfied(*t) && t->next_try > now)
      t->next_try = now;
    return;
  }
  auto t = std::make_unique<target>();
  t->ep = ep;
  t->next_try = now;
  targets_.emplace(key, std::move(t));
}

effects transport_core::on_accept(uint64_t conn, const std::string& address,
                                  time_point now) {
  auto c = std::make_unique<connection>(
      static_cast<uint32_t>(settings_.cfg.max_frame_bytes));
  c->id = conn;
  c->address = address;
  c->opened = now;
  c->last_in = now;
  c->tls = settings_.plaintext_for_benchmarks
               ? crypto::tls_channel::plaintext_for_benchmarks()
               : crypto::tls_channel::server(psks_);
  c->tls->set_plaintext_sink(&c->decoder.input());
  auto* raw = c.get();
  // At most max_pending_handshakes inbound connections in their handshake:
  // beyond, the oldest is closed. A flood of idle connections then churns
  // through the slots while a real peer's or console's handshake, done in
  // milliseconds, gets through (closing the newest would lock them out).
  connection* oldest = nullptr;
  size_t pending = 0;
  for (auto& [id, other] : conns_)
    if (!other->outbound && (other->ph == connection::phase::tls ||
                             other->ph == connection::phase::hello)) {
      ++pending;
      if (oldest == nullptr || other->opened < oldest->opened)
        oldest = other.get();
    }
  conns_.emplace(conn, std::move(c));
  ++stats_.accepted;
  effects fx;
  if (pending >= static_cast<size_t>(settings_.cfg.max_pending_handshakes))
    fail(*oldest, reason::too_many_handshakes,
         std::to_string(pending) + " inbound handshakes in progress; the "
                                   "oldest is closed",
         fx);
  if (raw->tls->established()) { // the plaintext baseline
    on_established_tls(*raw, fx, now);
    flush(*raw, fx);
  }
  return fx;
}

effects transport_core::on_connected(uint64_t conn, const endpoint& to,
                                     time_point now) {
  effects fx;
  auto c = std::make_unique<connection>(
      static_cast<uint32_t>(settings_.cfg.max_frame_bytes));
  c->id = conn;
  c->outbound = true;
  c->address = to.to_string();
  c->target = to.to_string();
  c->opened = now;
  c->last_in = now;
  auto& key = settings_.isolation_keys.front();
  c->tls = settings_.plaintext_for_benchmarks
               ? crypto::tls_channel::plaintext_for_benchmarks()
               : crypto::tls_channel::client(
                     peer_identity(settings_.network_id, key), key);
  c->tls->set_plaintext_sink(&c->decoder.input());
  if (auto* t = target_for(c->target)) {
    t->connecting = false;
    t->conn = conn;
  }
  auto* raw = c.get();
  conns_.emplace(conn, std::move(c));
  if (raw->tls->established()) // the plaintext baseline
    on_established_tls(*raw, fx, now);
  flush(*raw, fx); // the ClientHello
  return fx;
}

effects transport_core::on_connect_failed(const endpoint& to,
                                          const std::string& why,
                                          time_point now) {
  effects fx;
  if (auto* t = target_for(to.to_string())) {
    t->connecting = false;
    schedule_retry(*t, now);
    fx.events.push_back({event::type::info, t->node_id, "", to.to_string(),
                         reason::connect_failed,
                         why + "; retry in " +
                             std::to_string(to_ms(t->next_try - now)) + " ms"});
  }
  return fx;
}

void transport_core::schedule_retry(target& t, time_point now) {
  ++t.attempts;
  auto& cfg = settings_.cfg;
  auto base = static_cast<double>(cfg.reconnect_initial_ms) *
              std::pow(2.0, std::min(t.attempts - 1, 30));
  base = std::min(base, static_cast<double>(cfg.reconnect_max_ms));
  auto factor = 1.0 + cfg.reconnect_jitter * (2.0 * rng_.next_unit() - 1.0);
  t.next_try = now + from_ms(static_cast<int64_t>(base * factor));
}

bool transport_core::satisfied(const target& t) const {
  if (t.conn != 0 || t.connecting)
    return true;
  if (!t.node_id.empty() && by_node_.count(t.node_id) != 0)
    return true;
  auto ep = t.ep.to_string();
  for (auto& [id, conn] : by_node_) {
    auto i = conns_.find(conn);
    if (i != conns_.end() && i->second->peer.listen == ep)
      return true;
  }
  return false;
}

effects transport_core::on_bytes(uint64_t conn, const char* data, size_t size,
                                 time_point now) {
  effects fx;
  auto* c = find(conn);
  if (c == nullptr || c->ph == connection::phase::dead)
    return fx;
  c->bytes_in += size;
  c->last_in = now;
  if (c->ph == connection::phase::hello ||
      c->ph == connection::phase::established)
    last_heard_ = now;
  feed_tls(*c, data, size, fx, now);
  return fx;
}

void transport_core::feed_tls(connection& c, const char* data, size_t size,
                              effects& fx, time_point now) {
  bool was_up = c.tls->established();
  // Decrypted bytes go straight into the frame decoder's input.
  size_t buffered = c.decoder.input().size();
  auto st = c.tls->received(data, size);
  if (!st) {
    reason why = reason::tls_failed;
    std::string detail = st.err().message();
    // Before the handshake completed, a failure on an inbound connection is
    // named by the identity the client asked for; afterwards it is the
    // record layer (a forged or damaged record).
    if (!c.outbound && !was_up) {
      auto& asked = c.tls->requested_identity();
      auto slash = asked.find('/');
      auto net = asked.substr(0, slash);
      bool known = false;
      for (auto& e : *psks_)
        known = known || e.identity == asked;
      if (asked.empty()) {
        why =
            static_cast<crypto::errc>(st.err().code()) == crypto::errc::not_tls
                ? reason::not_tls
                : reason::tls_failed;
      } else if (known && asked == admin_identity) {
        why = reason::bad_admin_key;
        detail = "console connection with a wrong admin key (" + detail + ")";
      } else if (known) {
        why = reason::wrong_key;
        detail = "identity '" + asked + "' with a wrong key (" + detail + ")";
      } else if (net != settings_.network_id && asked != admin_identity) {
        why = reason::wrong_network;
        detail = "network '" + net + "' is not ours ('" + settings_.network_id +
                 "')";
      } else {
        why = reason::unknown_key;
        detail = "identity '" + asked + "' names no key we accept";
      }
    }
    fail(c, why, detail, fx);
    return;
  }
  if (!was_up && c.tls->established())
    on_established_tls(c, fx, now);
  if (c.decoder.input().size() != buffered && c.ph != connection::phase::dead) {
    auto fed = c.decoder.decode();
    // Frames decoded before an error are still handled in order.
    while (!c.decoder.frames().empty() && c.ph != connection::phase::dead) {
      auto env = std::move(c.decoder.frames().front());
      c.decoder.frames().pop_front();
      on_frame(c, std::move(env), fx, now);
    }
    if (!fed && c.ph != connection::phase::dead)
      fail(c,
           static_cast<wire::errc>(fed.err().code()) ==
                   wire::errc::frame_too_large
               ? reason::frame_too_large
               : reason::malformed_frame,
           fed.err().message(), fx);
  }
  // A graceful close after the data it followed (a Reject, say).
  if (c.tls->peer_closed() && c.ph != connection::phase::dead)
    fail(c, reason::closed, "peer closed the channel", fx);
  flush(c, fx);
}

void transport_core::on_established_tls(connection& c, effects& fx,
                                        time_point now) {
  (void)now;
  if (!c.outbound) {
    auto* entry = c.tls->peer_entry();
    if (entry != nullptr && entry->role == "admin") {
      c.ph = connection::phase::console;
      fx.events.push_back({event::type::info, "", "", c.address, reason::none,
                           "console connected"});
      return;
    }
  }
  c.ph = connection::phase::hello;
  auto binding = c.tls->exporter(hello_binding_label, 32);
  if (!binding) {
    // The session is gone already (the peer closed at once).
    fail(c, reason::no_binding,
         "the TLS session closed before its Hello binding could be taken (" +
             binding.err().message() + ")",
         fx);
    return;
  }
  c.binding = *binding;
  wire::hello h;
  h.node_id = self_.node_id();
  h.public_key = self_.public_key();
  h.software_version = settings_.software_version;
  h.min_protocol = static_cast<uint16_t>(settings_.cfg.protocol_min);
  h.max_protocol = static_cast<uint16_t>(settings_.cfg.protocol_max);
  h.capabilities = settings_.capabilities;
  h.listen = settings_.listen;
  h.name = settings_.name;
  h.signature = self_.sign(wire::hello_signed_bytes(h, c.binding));
  write_frame(c, wire::kind::hello, wire::encode_hello(h));
}

uint64_t transport_core::in_flight(const connection& c) {
  return c.unwritten + c.tls->held_bytes();
}

void transport_core::write_frame(connection& c, wire::kind k,
                                 std::string payload) {
  auto sender = k == wire::kind::hello ? self_.node_id() : std::string{};
  if (c.pending.empty())
    c.pending.emplace_back();
  auto before = c.pending.back().size();
  if (payload.size() < large_payload_bytes) {
    wire::append_frame(c.pending.back(), static_cast<uint16_t>(k), sender,
                       payload);
    c.pending_bytes += c.pending.back().size() - before;
  } else {
    auto tail = wire::append_frame_head(
        c.pending.back(), static_cast<uint16_t>(k), sender, payload.size());
    c.pending_bytes +=
        c.pending.back().size() - before + payload.size() + tail.size();
    c.pending.push_back(std::move(payload));
    c.pending.push_back(std::move(tail));
  }
  ++c.frames_out;
}

void transport_core::flush(connection& c, effects& fx, bool all) {
  // Encrypt no more than the socket can take soon: a burst goes out in
  // slices as the socket drains, and other connections are served between
  // slices.
  auto high_water = static_cast<uint64_t>(settings_.cfg.write_high_water_bytes);
  auto held = in_flight(c);
  if (c.tls->established() && (all || held < high_water)) {
    uint64_t budget = all ? UINT64_MAX : high_water - held;
    c.tls->reserve_output(
        static_cast<size_t>(std::min<uint64_t>(budget, c.pending_bytes)));
    while (!c.pending.empty() && budget > 0) {
      auto& chunk = c.pending.front();
      auto n = static_cast<size_t>(
          std::min<uint64_t>(chunk.size() - c.pending_sent, budget));
      if (n > 0 && !c.tls->send(chunk.data() + c.pending_sent, n)) {
        c.ph = connection::phase::dead;
        break;
      }
      c.pending_sent += n;
      c.pending_bytes -= n;
      budget -= n;
      if (c.pending_sent == chunk.size()) {
        c.pending.pop_front();
        c.pending_sent = 0;
      }
    }
  }
  auto out = c.tls->take_output_bytes();
  if (!out.empty()) {
    c.bytes_out += out.size();
    c.unwritten += out.size();
    fx.writes.push_back({c.id, std::move(out)});
  }
}

void transport_core::on_frame(connection& c, wire::envelope env, effects& fx,
                              time_point now) {
  ++c.frames_in;
  auto k = static_cast<wire::kind>(env.kind);
  switch (c.ph) {
  case connection::phase::console:
    if (k != wire::kind::console_request) {
      fail(c, reason::unexpected_frame,
           "console sent frame kind " + std::to_string(env.kind), fx);
      return;
    }
    fx.deliveries.push_back({k, "", std::move(env.payload), c.id});
    return;
  case connection::phase::hello:
    if (k == wire::kind::hello) {
      on_hello(c, env, fx, now);
    } else if (k == wire::kind::reject) {
      auto r = wire::decode_reject(env.payload);
      fail(c, reason::peer_rejected,
           r ? "peer refused us: " + r->reason
             : std::string{"peer refused us (unreadable Reject)"},
           fx);
    } else {
      fail(c, reason::unexpected_frame,
           "frame kind " + std::to_string(env.kind) + " before Hello", fx,
           true);
    }
    return;
  case connection::phase::established: {
    if (k == wire::kind::reject) {
      auto r = wire::decode_reject(env.payload);
      fail(c, reason::peer_rejected,
           r ? "peer refused us: " + r->reason : std::string{"Reject"}, fx);
      return;
    }
    if (k == wire::kind::ping && env.payload.empty())
      return; // a keepalive: hearing it was the point
    if (k == wire::kind::hello || k == wire::kind::console_request ||
        k == wire::kind::console_response) {
      fail(c, reason::unexpected_frame,
           "frame kind " + std::to_string(env.kind) + " after Hello", fx, true);
      return;
    }
    if (auto* rule = fault_for(c.peer.node_id);
        rule != nullptr &&
        (rule->block_in ||
         (rule->drop_in > 0 && rng_.next_unit() < rule->drop_in))) {
      ++stats_.fault_drops;
      ++c.dropped;
      return;
    }
    if (k == wire::kind::ping) {
      enqueue(c.peer.node_id, wire::kind::pong, std::move(env.payload), fx,
              now);
      return;
    }
    fx.deliveries.push_back({k, c.peer.node_id, std::move(env.payload), c.id});
    return;
  }
  case connection::phase::tls:
  case connection::phase::dead:
    return;
  }
}

void transport_core::on_hello(connection& c, const wire::envelope& env,
                              effects& fx, time_point now) {
  auto h = wire::decode_hello(env.payload);
  if (!h) {
    fail(c, reason::bad_hello, h.err().message(), fx, true);
    return;
  }
  c.peer = *h;
  auto& later = c.decoder.frames();
  bool reject_follows =
      std::any_of(later.begin(), later.end(), [](const wire::envelope& e) {
        return static_cast<wire::kind>(e.kind) == wire::kind::reject;
      });
  if (c.tls->peer_closed() && !reject_follows) {
    // The Hello came with the close of its channel: the peer gave this
    // connection up at once (the redundant one of a simultaneous dial).
    // With a Reject after it, the Reject says why (handled next).
    fail(c, reason::closed,
         "closed by the peer right after its Hello (a simultaneous dial's "
         "redundant connection)",
         fx);
    return;
  }
  if (h->node_id != crypto::node_identity::derive_id(h->public_key)) {
    fail(c, reason::bad_hello, "node id does not match its public key", fx,
         true);
    return;
  }
  if (c.binding.empty()) {
    fail(c, reason::no_binding,
         "no TLS binding to check the Hello of " + h->node_id + " against", fx);
    return;
  }
  if (!crypto::node_identity::verify(h->public_key,
                                     wire::hello_signed_bytes(*h, c.binding),
                                     h->signature)) {
    fail(c, reason::bad_signature,
         "Hello signature of " + h->node_id + " does not verify", fx, true);
    return;
  }
  auto lo = static_cast<uint16_t>(settings_.cfg.protocol_min);
  auto hi = static_cast<uint16_t>(settings_.cfg.protocol_max);
  auto version = wire::negotiate(lo, hi, h->min_protocol, h->max_protocol);
  if (!version) {
    fail(c, reason::version_mismatch,
         "no common protocol version: ours " + std::to_string(lo) + "-" +
             std::to_string(hi) + ", peer's " +
             std::to_string(h->min_protocol) + "-" +
             std::to_string(h->max_protocol),
         fx, true);
    return;
  }
  if (h->node_id == self_.node_id()) {
    if (auto* t = target_for(c.target))
      t->self = true;
    fail(c, reason::self_connection, "connected to ourselves", fx);
    return;
  }
  if (auto i = by_node_.find(h->node_id); i != by_node_.end()) {
    auto* other = find(i->second);
    // The same two nodes dialing each other at once: one connection each
    // way, and the peer advertises the same listen address on both. Anything
    // else is the id connecting again from elsewhere.
    if (other != nullptr && other->outbound != c.outbound &&
        other->peer.listen == h->listen) {
      // Both sides keep the connection initiated by the lower node id.
      auto initiator = [&](const connection& x) {
        return x.outbound ? self_.node_id() : x.peer.node_id;
      };
      if (initiator(c) < initiator(*other)) {
        fail(*other, reason::local_close,
             "superseded by a simultaneous connection", fx);
      } else {
        fail(c, reason::local_close,
             "simultaneous connection; keeping the one initiated by " +
                 initiator(*other),
             fx);
        return;
      }
    } else {
      fail(c, reason::duplicate_id,
           "node " + h->node_id + " is already connected from " +
               (other ? other->address : std::string{"?"}),
           fx, true);
      return;
    }
  }
  c.version = *version;
  c.ph = connection::phase::established;
  by_node_[h->node_id] = c.id;
  ++stats_.connected;
  if (c.outbound) {
    if (auto* t = target_for(c.target)) {
      t->attempts = 0;
      t->node_id = h->node_id;
    }
  } else if (!h->listen.empty() && h->listen != settings_.listen &&
             targets_.count(h->listen) == 0) {
    // A peer that dialed us: remember how to reach it if it drops.
    if (auto ep = parse_endpoint(h->listen)) {
      auto t = std::make_unique<target>();
      t->ep = *ep;
      t->node_id = h->node_id;
      t->next_try = now;
      targets_.emplace(h->listen, std::move(t));
    }
  }
  fx.events.push_back(
      {event::type::peer_up, h->node_id, h->name, c.address, reason::none,
       "protocol " + std::to_string(c.version) + ", " + c.tls->ciphersuite()});
  fx.events.back().listen = h->listen;
  flush(c, fx);
  flush_queue(h->node_id, fx, now);
}

void transport_core::fail(connection& c, reason why, const std::string& detail,
                          effects& fx, bool send_reject) {
  if (c.ph == connection::phase::dead)
    return;
  bool was_up = c.ph == connection::phase::established;
  if (send_reject && c.tls->established()) {
    wire::reject r;
    r.reason = std::string{to_string(why)} + ": " + detail;
    r.local_min = static_cast<uint16_t>(settings_.cfg.protocol_min);
    r.local_max = static_cast<uint16_t>(settings_.cfg.protocol_max);
    r.peer_min = c.peer.min_protocol;
    r.peer_max = c.peer.max_protocol;
    write_frame(c, wire::kind::reject, wire::encode_reject(r));
  }
  flush(c, fx, true);
  c.tls->close();
  flush(c, fx, true);
  c.ph = connection::phase::dead;
  if (auto i = by_node_.find(c.peer.node_id);
      i != by_node_.end() && i->second == c.id)
    by_node_.erase(i);
  if (why != reason::closed && why != reason::local_close)
    ++stats_.rejections[to_string(why)];
  fx.events.push_back({was_up ? event::type::peer_down : event::type::rejected,
                       c.peer.node_id, c.peer.name, c.address, why, detail});
  fx.closes.push_back(c.id);
}

void transport_core::drop_connection(connection& c, effects& fx,
                                     time_point now) {
  (void)fx;
  auto i = by_node_.find(c.peer.node_id);
  if (i != by_node_.end() && i->second == c.id)
    by_node_.erase(i);
  if (c.outbound) {
    if (auto* t = target_for(c.target)) {
      if (t->conn == c.id)
        t->conn = 0;
      if (!t->self)
        schedule_retry(*t, now);
    }
  }
}

effects transport_core::on_closed(uint64_t conn, time_point now) {
  effects fx;
  auto* c = find(conn);
  if (c == nullptr)
    return fx;
  if (c->ph != connection::phase::dead) {
    bool was_up = c->ph == connection::phase::established;
    bool handshake = c->ph == connection::phase::tls && c->outbound;
    auto why = handshake ? reason::tls_failed : reason::closed;
    if (why != reason::closed)
      ++stats_.rejections[to_string(why)];
    fx.events.push_back(
        {was_up ? event::type::peer_down : event::type::rejected,
         c->peer.node_id, c->peer.name, c->address, why,
         handshake ? "peer closed during the TLS handshake (wrong network or "
                     "key?)"
                   : "connection closed"});
    c->ph = connection::phase::dead;
  }
  drop_connection(*c, fx, now);
  conns_.erase(conn);
  return fx;
}

effects transport_core::on_write_progress(uint64_t conn, uint64_t remaining,
                                          time_point now) {
  effects fx;
  auto* c = find(conn);
  if (c == nullptr)
    return fx;
  c->unwritten = remaining;
  if (remaining < static_cast<uint64_t>(settings_.cfg.write_high_water_bytes)) {
    if (c->ph == connection::phase::established)
      flush_queue(c->peer.node_id, fx, now);
    else
      flush(*c, fx);
  }
  return fx;
}

effects transport_core::on_tick(time_point now) {
  effects fx;
  auto timeout = from_ms(settings_.cfg.handshake_timeout_ms);
  for (auto& [id, c] : conns_) {
    if ((c->ph == connection::phase::tls ||
         c->ph == connection::phase::hello) &&
        now - c->opened > timeout)
      fail(*c, reason::handshake_timeout,
           "no complete handshake after " +
               std::to_string(settings_.cfg.handshake_timeout_ms) + " ms",
           fx);
  }
  while (!delayed_.empty() && delayed_.front().first <= now) {
    auto q = std::move(delayed_.front().second);
    delayed_.pop_front();
    auto node = q.node_id;
    push_queued(std::move(q));
    flush_queue(node, fx, now);
  }
  check_liveness(fx, now);
  for (auto& [key, t] : targets_) {
    if (t->self || satisfied(*t) || now < t->next_try)
      continue;
    t->connecting = true;
    t->last_dial = now;
    fx.connects.push_back(t->ep);
  }
  // Connections failed during this step stay until their socket is closed
  // by the shell; forget them now.
  for (auto i = conns_.begin(); i != conns_.end();) {
    if (i->second->ph == connection::phase::dead) {
      drop_connection(*i->second, fx, now);
      i = conns_.erase(i);
    } else {
      ++i;
    }
  }
  return fx;
}

void transport_core::check_liveness(effects& fx, time_point now) {
  auto dead_after = from_ms(settings_.cfg.dead_after_ms);
  auto keepalive = from_ms(settings_.cfg.keepalive_ms);
  for (auto& [id, c] : conns_) {
    if (c->ph != connection::phase::established)
      continue;
    if (now - c->last_in >= dead_after) {
      fail(*c, reason::silent_peer,
           "no bytes from the peer for " +
               std::to_string(to_ms(now - c->last_in)) +
               " ms (transport.dead_after_ms " +
               std::to_string(settings_.cfg.dead_after_ms) + "); redialling",
           fx);
      continue;
    }
    if (c->frames_out != c->idle_mark) {
      c->idle_mark = c->frames_out;
      c->idle_since = now;
    } else if (now - c->idle_since >= keepalive) {
      // Straight onto the connection, past the queue and its fault rules:
      // injected faults drop frames, they do not cut the path.
      write_frame(*c, wire::kind::ping, std::string{});
      flush(*c, fx);
      c->idle_mark = c->frames_out;
      c->idle_since = now;
    }
  }
}

void transport_core::dial_on_demand(const std::string& node_id,
                                    time_point now) {
  auto initial = from_ms(settings_.cfg.reconnect_initial_ms);
  for (auto& [key, t] : targets_)
    if (t->node_id == node_id && !t->self && !satisfied(*t) &&
        t->next_try > now && now - t->last_dial >= initial)
      t->next_try = now;
}

int64_t transport_core::heard_ago(time_point now) const {
  return to_ms(now - last_heard_);
}

const fault_rule* transport_core::fault_for(const std::string& node) const {
  if (faults_.empty())
    return nullptr;
  auto i = faults_.find(node);
  if (i != faults_.end())
    return &i->second;
  i = faults_.find("*");
  return i == faults_.end() ? nullptr : &i->second;
}

effects transport_core::send(const std::string& node_id, wire::kind k,
                             std::string payload, time_point now,
                             bool flush_now) {
  effects fx;
  enqueue(node_id, k, std::move(payload), fx, now, flush_now);
  return fx;
}

effects transport_core::flush_all(time_point now) {
  effects fx;
  for (auto& [node, q] : queues_)
    if (!q.empty())
      flush_queue(node, fx, now);
  return fx;
}

void transport_core::enqueue(const std::string& node_id, wire::kind k,
                             std::string payload, effects& fx, time_point now,
                             bool flush_now) {
  int copies = 1;
  if (auto* rule = fault_for(node_id)) {
    if (rule->block_out ||
        (rule->drop_out > 0 && rng_.next_unit() < rule->drop_out)) {
      ++stats_.fault_drops;
      return;
    }
    if (rule->duplicate > 0 && rng_.next_unit() < rule->duplicate)
      copies = 2;
    if (rule->delay_ms > 0) {
      for (int i = 0; i < copies; ++i)
        delayed_.emplace_back(now + from_ms(rule->delay_ms),
                              queued{node_id, k, payload});
      return;
    }
  }
  auto& q = queues_[node_id];
  auto& bytes = queue_bytes_[node_id];
  for (int i = 0; i < copies; ++i) {
    if (q.size() >= static_cast<size_t>(settings_.cfg.max_queue_frames) ||
        bytes + payload.size() >
            static_cast<size_t>(settings_.cfg.max_queue_bytes)) {
      ++stats_.queue_full_drops;
      fx.events.push_back({event::type::dropped, node_id, "", "",
                           reason::queue_full,
                           "outbound queue full (" + std::to_string(q.size()) +
                               " frames); frame dropped"});
      break;
    }
    // The last copy takes the payload itself.
    push_queued({node_id, k, i + 1 == copies ? std::move(payload) : payload});
  }
  if (by_node_.count(node_id) == 0)
    dial_on_demand(node_id, now);
  if (flush_now)
    flush_queue(node_id, fx, now);
}

void transport_core::flush_queue(const std::string& node_id, effects& fx,
                                 time_point now) {
  (void)now;
  auto i = by_node_.find(node_id);
  if (i == by_node_.end())
    return;
  auto* c = find(i->second);
  if (c == nullptr || c->ph != connection::phase::established)
    return;
  auto& q = queues_[node_id];
  auto& bytes = queue_bytes_[node_id];
  // Frames stay queued (bounded, counted) while the socket is behind.
  auto high_water = static_cast<uint64_t>(settings_.cfg.write_high_water_bytes);
  auto& urgent = urgent_queued_[node_id];
  while (!q.empty() && in_flight(*c) + c->pending_bytes < high_water) {
    bytes -= q.front().payload.size();
    write_frame(*c, q.front().k, std::move(q.front().payload));
    q.pop_front();
    if (urgent > 0)
      --urgent;
  }
  flush(*c, fx);
}

void transport_core::push_queued(queued item) {
  auto& q = queues_[item.node_id];
  queue_bytes_[item.node_id] += item.payload.size();
  bool urgent = item.k == wire::kind::membership ||
                item.k == wire::kind::ping || item.k == wire::kind::pong;
  if (!urgent) {
    q.push_back(std::move(item));
    return;
  }
  auto& ahead = urgent_queued_[item.node_id];
  q.insert(q.begin() + static_cast<std::ptrdiff_t>(ahead), std::move(item));
  ++ahead;
}

effects transport_core::reply(uint64_t conn, const std::string& payload,
                              time_point now) {
  (void)now;
  effects fx;
  auto* c = find(conn);
  if (c == nullptr || c->ph != connection::phase::console)
    return fx;
  write_frame(*c, wire::kind::console_response, payload);
  flush(*c, fx);
  return fx;
}

effects transport_core::close_all(time_point now) {
  effects fx;
  for (auto& [id, c] : conns_)
    fail(*c, reason::local_close, "node shutting down", fx);
  for (auto& [key, t] : targets_)
    t->self = true; // no reconnects after shutdown
  (void)now;
  return fx;
}

void transport_core::set_fault(const fault_rule& rule) {
  faults_[rule.peer] = rule;
}

void transport_core::clear_faults() {
  faults_.clear();
}

std::vector<std::string> transport_core::peers() const {
  std::vector<std::string> out;
  for (auto& [id, conn] : by_node_)
    out.push_back(id);
  return out;
}

std::vector<connection_info> transport_core::connections(time_point now) const {
  std::vector<connection_info> out;
  for (auto& [id, c] : conns_) {
    connection_info info;
    info.id = id;
    info.outbound = c->outbound;
    info.address = c->address;
    switch (c->ph) {
    case connection::phase::tls:
      info.phase = "tls";
      break;
    case connection::phase::hello:
      info.phase = "hello";
      break;
    case connection::phase::established:
      info.phase = "established";
      break;
    case connection::phase::console:
      info.phase = "console";
      break;
    case connection::phase::dead:
      info.phase = "closing";
      break;
    }
    info.node_id = c->peer.node_id;
    info.name = c->peer.name;
    info.listen = c->peer.listen;
    info.version = c->version;
    info.cipher = c->tls->ciphersuite();
    info.bytes_in = c->bytes_in;
    info.bytes_out = c->bytes_out;
    info.frames_in = c->frames_in;
    info.frames_out = c->frames_out;
    info.dropped = c->dropped;
    if (auto q = queues_.find(c->peer.node_id); q != queues_.end())
      info.queued_frames = q->second.size();
    info.age_ms = to_ms(now - c->opened);
    out.push_back(std::move(info));
  }
  return out;
}

} // namespace mycelium::transport
