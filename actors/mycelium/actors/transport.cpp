#include "mycelium/actors/transport.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/system/log.hpp"
#include "mycelium/system/net.hpp"
#include "mycelium/transport/transport_core.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <set>

namespace mycelium::actors {

namespace {

using transport::transport_core;

struct transport_state {
  static constexpr const char* name = "transport";

  node_context_ptr ctx;
  std::unique_ptr<transport_core> core;
  std::map<uint64_t, caf::io::connection_handle> handles;
  std::map<caf::io::connection_handle, uint64_t> serials;
  uint64_t next_serial = 0;
  /// Pings in flight: token -> (reply, start).
  std::map<std::string, std::pair<caf::response_promise,
                                  std::chrono::steady_clock::time_point>>
      pings;
  uint64_t next_ping = 0;
  /// A flush_atom is in the mailbox: sends until then are coalesced.
  bool flush_pending = false;
  /// Metrics updated on the data path (registered once).
  metrics::counter* bytes_in = nullptr;
  metrics::counter* bytes_out = nullptr;
  metrics::counter* frames_in = nullptr;
  metrics::counter* frames_out = nullptr;
  /// Peers (by name) that had a connection -> when it was lost (0 while
  /// connected): their connected gauge stays at 0 while they are away, and
  /// goes after membership.retain_failed_ms (a peer that is gone for good).
  std::map<std::string, int64_t> known_peers;
  uint64_t last_queue_full_drops = 0;
  /// Refusal lines per reason: 10 per 10 s, the rest summed up (a flood of
  /// hostile connections must not drown the log).
  log::limiter refusals{10, std::chrono::seconds(10)};
};

using self_ptr = caf::io::stateful_broker<transport_state>*;

/// A short-lived detached actor: one blocking connect, then a report.
/// The report is sent anonymously: a message in the mailbox of a transport
/// that stopped meanwhile (a connect that outlived the node's shutdown, as
/// over a silent cut) would hold this actor, and the actor system would
/// wait for its thread forever.
caf::behavior connector(caf::event_based_actor* self, caf::actor transport,
                        std::string host, uint16_t port, int64_t timeout_ms) {
  std::string why;
  int fd = net::dial(host, port, timeout_ms, why);
  if (fd >= 0)
    caf::anon_send(transport, connected_atom::value, host, port, fd);
  else
    caf::anon_send(transport, conn_fail_atom::value, host, port, why);
  self->quit();
  return {};
}

std::string short_id(const std::string& id) {
  return id.substr(0, 8);
}

void log_event(self_ptr self, const transport::event& e) {
  using type = transport::event::type;
  auto who = e.name.empty() ? short_id(e.node_id)
                            : e.name + " (" + short_id(e.node_id) + ")";
  switch (e.what) {
  case type::peer_up:
    log::info("transport",
              "connected to " + who + " at " + e.address + ": " + e.detail);
    break;
  case type::peer_down:
    (e.why == transport::reason::local_close ? log::info : log::warning)(
        "transport", "lost " + who + " at " + e.address + ": " +
                         transport::to_string(e.why) + ": " + e.detail);
    break;
  case type::rejected:
    if (e.why == transport::reason::local_close ||
        e.why == transport::reason::closed)
      log::debug("transport",
                 "closed connection " + e.address + ": " + e.detail);
    else if (self->state.refusals.allow(transport::to_string(e.why),
                                        std::chrono::steady_clock::now()))
      log::warning("transport", "refused connection " + e.address +
                                    (e.node_id.empty() ? "" : " " + who) +
                                    ": " + transport::to_string(e.why) + ": " +
                                    e.detail);
    break;
  case type::dropped:
    log::debug("transport", "to " + who + ": " + e.detail);
    break;
  case type::info:
    log::debug("transport", e.address + ": " + e.detail);
    break;
  }
}

/// The registered name of the local actor that handles frames of kind `k`.
const char* handler_name(wire::kind k) {
  switch (k) {
  case wire::kind::console_request:
    return "console";
  case wire::kind::bench:
    return "bench";
  case wire::kind::membership:
    return "membership";
  case wire::kind::spores:
    return "spores";
  case wire::kind::gdb:
    return "gdb";
  default:
    return nullptr;
  }
}

/// Reasons that point at an attacker or a misconfigured client rather than
/// at the network: counted as security events too.
bool security_relevant(transport::reason r) {
  using transport::reason;
  switch (r) {
  case reason::wrong_network:
  case reason::unknown_key:
  case reason::wrong_key:
  case reason::not_tls:
  case reason::bad_hello:
  case reason::bad_signature:
  case reason::duplicate_id:
  case reason::malformed_frame:
  case reason::frame_too_large:
  case reason::bad_admin_key:
    return true;
  default:
    return false;
  }
}

/// Closes in the normal course of things are not rejections.
bool counted_as_rejection(transport::reason r) {
  return r != transport::reason::closed && r != transport::reason::local_close;
}

metrics::counter& rejections(metrics::registry& m, transport::reason r) {
  return m.get_counter("mycelium_transport_rejections_total",
                       "Connections refused or closed on error, by reason.",
                       {{"reason", transport::to_string(r)}});
}

metrics::counter& security_events(metrics::registry& m, transport::reason r) {
  return m.get_counter("mycelium_security_events_total",
                       "Failed handshakes, bad admin keys and hostile frames.",
                       {{"kind", transport::to_string(r)}});
}

metrics::counter& queue_full_drops(metrics::registry& m) {
  return m.get_counter("mycelium_transport_queue_full_drops_total",
                       "Frames dropped because a peer's queue was full.");
}

std::string peer_label(const transport::event& e) {
  return e.name.empty() ? short_id(e.node_id) : e.name;
}

/// Counts an event in the node's metrics.
void count_event(self_ptr self, const transport::event& e) {
  using type = transport::event::type;
  auto& m = *self->state.ctx->metrics;
  auto& st = self->state;
  switch (e.what) {
  case type::peer_up:
    st.known_peers[peer_label(e)] = 0;
    m.get_gauge("mycelium_transport_peer_connected",
                "1 while an established connection to the peer exists.",
                {{"peer", peer_label(e)}})
        .set(1);
    break;
  case type::peer_down:
    st.known_peers[peer_label(e)] = st.ctx->wall_clock();
    m.get_gauge("mycelium_transport_peer_connected",
                "1 while an established connection to the peer exists.",
                {{"peer", peer_label(e)}})
        .set(0);
    break;
  case type::rejected:
    if (!counted_as_rejection(e.why))
      break;
    rejections(m, e.why).inc();
    if (security_relevant(e.why))
      security_events(m, e.why).inc();
    break;
  default:
    break;
  }
}

/// Gauges read from the core: queue depth per peer, connected peers.
void sample_gauges(self_ptr self) {
  auto& st = self->state;
  auto& m = *st.ctx->metrics;
  std::set<std::string> up;
  for (auto& c : st.core->connections(self->clock().now())) {
    if (c.phase != "established")
      continue;
    auto peer = c.name.empty() ? short_id(c.node_id) : c.name;
    up.insert(peer);
    m.get_gauge("mycelium_transport_queue_depth",
                "Frames waiting in the peer's outbound queue.",
                {{"peer", peer}})
        .set(static_cast<double>(c.queued_frames));
  }
  auto now = st.ctx->wall_clock();
  for (auto it = st.known_peers.begin(); it != st.known_peers.end();) {
    auto& [peer, lost] = *it;
    if (up.count(peer) != 0) {
      ++it;
      continue;
    }
    m.remove("mycelium_transport_queue_depth", {{"peer", peer}});
    if (lost > 0 && now - lost > st.ctx->cfg.membership.retain_failed_ms) {
      m.remove("mycelium_transport_peer_connected", {{"peer", peer}});
      it = st.known_peers.erase(it);
    } else {
      ++it;
    }
  }
  m.get_gauge("mycelium_transport_peers", "Established peer connections.")
      .set(static_cast<double>(up.size()));
  auto drops = st.core->totals().queue_full_drops;
  if (drops > st.last_queue_full_drops)
    queue_full_drops(m).inc(drops - st.last_queue_full_drops);
  st.last_queue_full_drops = drops;
}

void perform(self_ptr self, transport::effects fx) {
  auto& st = self->state;
  for (auto& w : fx.writes) {
    auto h = st.handles.find(w.conn);
    if (h == st.handles.end())
      continue;
    st.bytes_out->inc(w.bytes.size());
    // Hand the records to CAF without copying when its buffer is empty
    // (the common case: it is drained at every flush).
    auto& buf = self->wr_buf(h->second);
    if (buf.empty())
      buf.swap(w.bytes);
    else
      buf.insert(buf.end(), w.bytes.begin(), w.bytes.end());
    self->flush(h->second);
  }
  for (auto id : fx.closes) {
    auto h = st.handles.find(id);
    if (h == st.handles.end())
      continue;
    self->close(h->second);
    st.serials.erase(h->second);
    st.handles.erase(h);
  }
  for (auto& ep : fx.connects)
    self->spawn<caf::detached>(connector, caf::actor_cast<caf::actor>(self),
                               ep.host, ep.port,
                               st.ctx->cfg.transport.connect_timeout_ms);
  st.frames_in->inc(fx.deliveries.size());
  for (auto& e : fx.events) {
    log_event(self, e);
    count_event(self, e);
    if (e.what == transport::event::type::peer_up)
      if (auto m = registered(self->home_system(), "membership"))
        self->send(m, contact_atom::value, e.node_id, e.listen, e.name);
  }
  for (auto& d : fx.deliveries) {
    if (d.kind == wire::kind::pong) {
      auto i = st.pings.find(d.payload);
      if (i != st.pings.end()) {
        auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - i->second.second)
                       .count();
        i->second.first.deliver(json{{"peer", d.from}, {"rtt_us", rtt}}.dump());
        st.pings.erase(i);
      }
      continue;
    }
    auto* name = handler_name(d.kind);
    if (name == nullptr) {
      log::debug("transport", "no handler for frame kind " +
                                  std::to_string(static_cast<int>(d.kind)));
      continue;
    }
    auto dest = registered(self->home_system(), name);
    if (!dest)
      continue;
    if (d.kind == wire::kind::console_request)
      self->send(dest, console_atom::value, d.conn, std::move(d.payload));
    else
      self->send(dest, frame_atom::value, d.from, static_cast<uint16_t>(d.kind),
                 std::move(d.payload));
  }
}

/// Answers pings without a pong for 3 s with an error.
void expire_pings(self_ptr self) {
  auto& pings = self->state.pings;
  auto deadline = std::chrono::steady_clock::now() - std::chrono::seconds(3);
  for (auto i = pings.begin(); i != pings.end();) {
    if (i->second.second > deadline) {
      ++i;
      continue;
    }
    i->second.first.deliver(
        make_error(errc::refused,
                   "no pong within 3 s (peer unreachable or traffic blocked)"));
    i = pings.erase(i);
  }
}

std::string render_peers(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  json doc;
  doc["node_id"] = st.core->node_id();
  doc["listen"] = st.ctx->cfg.listen.to_string();
  auto conns = json::array();
  for (auto& c : st.core->connections(now))
    conns.push_back({{"id", c.id},
                     {"direction", c.outbound ? "out" : "in"},
                     {"address", c.address},
                     {"phase", c.phase},
                     {"node_id", c.node_id},
                     {"name", c.name},
                     {"listen", c.listen},
                     {"version", c.version},
                     {"cipher", c.cipher},
                     {"bytes_in", c.bytes_in},
                     {"bytes_out", c.bytes_out},
                     {"frames_in", c.frames_in},
                     {"frames_out", c.frames_out},
                     {"queued_frames", c.queued_frames},
                     {"dropped", c.dropped},
                     {"age_ms", c.age_ms}});
  doc["connections"] = conns;
  auto& t = st.core->totals();
  doc["rejections"] = t.rejections;
  doc["accepted"] = t.accepted;
  doc["handshakes_completed"] = t.connected;
  doc["queue_full_drops"] = t.queue_full_drops;
  doc["fault_drops"] = t.fault_drops;
  auto faults = json::array();
  for (auto& [peer, r] : st.core->faults())
    faults.push_back({{"peer", peer},
                      {"drop_out", r.drop_out},
                      {"drop_in", r.drop_in},
                      {"duplicate", r.duplicate},
                      {"delay_ms", r.delay_ms},
                      {"block_out", r.block_out},
                      {"block_in", r.block_in}});
  doc["faults"] = faults;
  return doc.dump();
}

/// The node id of a connected peer named by its name, id or id prefix
/// ("" when none matches).
std::string resolve_peer(self_ptr self, const std::string& peer) {
  for (auto& c : self->state.core->connections(self->clock().now()))
    if (!c.node_id.empty() && c.phase == "established" &&
        (c.name == peer || c.node_id.rfind(peer, 0) == 0))
      return c.node_id;
  return "";
}

/// Applies a fault command; returns a description or an error.
caf::result<std::string> apply_fault(self_ptr self, const std::string& text) {
  auto& st = self->state;
  if (!st.ctx->cfg.allow_fault_injection)
    return make_error(errc::refused, "fault injection is disabled (set "
                                     "allow_fault_injection in the node "
                                     "config)");
  auto cmd = transport::parse_fault_command(text);
  if (!cmd)
    return make_error(errc::refused, cmd.err().message());
  if (cmd->clear) {
    st.core->clear_faults();
    log::warning("transport", "fault injection: all rules cleared");
    return std::string{"all fault rules cleared"};
  }
  auto rule = cmd->rule;
  auto peer = rule.peer;
  // Accept a node name or an id prefix as well as a full id.
  if (peer != "*") {
    auto match = resolve_peer(self, peer);
    if (match.empty() && peer.size() != 32)
      return make_error(errc::no_such_actor,
                        "no connected peer named or prefixed '" + peer + "'");
    if (!match.empty())
      peer = match;
  }
  rule.peer = peer;
  st.core->set_fault(rule);
  auto what = "fault rule for " + peer + ": " + text;
  log::warning("transport", "fault injection: " + what);
  return what;
}

caf::behavior transport_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  auto& cfg = ctx->cfg;
  transport::settings s;
  s.cfg = cfg.transport;
  s.network_id = cfg.network_id;
  s.name = cfg.name;
  s.listen = cfg.listen.to_string();
  for (auto& hex : cfg.isolation_key_hex)
    s.isolation_keys.push_back(*crypto::from_hex(hex));
  if (!cfg.admin_key_hex.empty())
    s.admin_key = *crypto::from_hex(cfg.admin_key_hex);
  s.software_version = MYCELIUM_VERSION;
  s.capabilities = {"console"};
  s.seeds = cfg.seeds;
  s.allow_fault_injection = cfg.allow_fault_injection;
  s.plaintext_for_benchmarks = ctx->plaintext_for_benchmarks;
  if (s.plaintext_for_benchmarks)
    log::warning("transport", "PLAINTEXT connections (benchmark baseline)");
  st.core = std::make_unique<transport_core>(
      std::move(s), *ctx->identity,
      static_cast<uint64_t>(ctx->wall_clock()) ^ 0x7a11);
  auto& m = *ctx->metrics;
  const char* bytes_help = "Bytes on the wire (TLS records included).";
  const char* frames_help = "Frames delivered to local actors (in) or sent "
                            "to peers (out).";
  st.bytes_in = &m.get_counter("mycelium_transport_bytes_total", bytes_help,
                               {{"direction", "in"}});
  st.bytes_out = &m.get_counter("mycelium_transport_bytes_total", bytes_help,
                                {{"direction", "out"}});
  st.frames_in = &m.get_counter("mycelium_transport_frames_total", frames_help,
                                {{"direction", "in"}});
  st.frames_out = &m.get_counter("mycelium_transport_frames_total", frames_help,
                                 {{"direction", "out"}});
  // Every refusal reason is exported (at 0) from the start, so a rate or
  // an alert on one does not depend on it having happened before.
  for (auto r = uint8_t{1}; r <= static_cast<uint8_t>(transport::last_reason);
       ++r) {
    auto why = static_cast<transport::reason>(r);
    if (!counted_as_rejection(why))
      continue;
    rejections(m, why);
    if (security_relevant(why))
      security_events(m, why);
  }
  queue_full_drops(m);
  auto doorman =
      self->add_tcp_doorman(cfg.listen.port, cfg.listen.host.c_str(), true);
  if (!doorman) {
    self->quit(make_error(errc::refused,
                          "cannot listen on " + cfg.listen.to_string() + ": " +
                              self->home_system().render(doorman.error())));
    return {};
  }
  register_as(self->home_system(), "transport",
              caf::actor_cast<caf::actor>(self));
  log::info("transport", "listening on " + cfg.listen.to_string() +
                             " as node " + ctx->identity->node_id());
  self->set_exit_handler([=](caf::exit_msg& msg) {
    perform(self, self->state.core->close_all(self->clock().now()));
    self->quit(msg.reason);
  });
  perform(self, st.core->start(self->clock().now()));
  auto tick = std::chrono::milliseconds(cfg.transport.tick_ms);
  self->delayed_send(self, tick, tick_atom::value);
  auto new_serial = [=](caf::io::connection_handle hdl) {
    auto& st = self->state;
    auto serial = ++st.next_serial;
    st.handles[serial] = hdl;
    st.serials[hdl] = serial;
    self->configure_read(hdl, caf::io::receive_policy::at_most(64 * 1024));
    self->ack_writes(hdl, true);
    return serial;
  };
  return {
      [=](const caf::io::new_connection_msg& msg) {
        auto serial = new_serial(msg.handle);
        net::set_nodelay(static_cast<int>(msg.handle.id()));
        net::set_user_timeout(static_cast<int>(msg.handle.id()),
                              self->state.ctx->cfg.transport.dead_after_ms);
        auto addr = self->remote_addr(msg.handle) + ":" +
                    std::to_string(self->remote_port(msg.handle));
        perform(self,
                self->state.core->on_accept(serial, addr, self->clock().now()));
      },
      [=](const caf::io::new_data_msg& msg) {
        auto i = self->state.serials.find(msg.handle);
        if (i == self->state.serials.end())
          return;
        self->state.bytes_in->inc(msg.buf.size());
        perform(self, self->state.core->on_bytes(i->second, msg.buf.data(),
                                                 msg.buf.size(),
                                                 self->clock().now()));
      },
      [=](const caf::io::data_transferred_msg& msg) {
        auto i = self->state.serials.find(msg.handle);
        if (i == self->state.serials.end())
          return;
        perform(self, self->state.core->on_write_progress(
                          i->second, msg.remaining, self->clock().now()));
      },
      [=](const caf::io::connection_closed_msg& msg) {
        auto& st = self->state;
        auto i = st.serials.find(msg.handle);
        if (i == st.serials.end())
          return;
        auto serial = i->second;
        st.serials.erase(i);
        st.handles.erase(serial);
        perform(self, st.core->on_closed(serial, self->clock().now()));
      },
      [=](const caf::io::acceptor_closed_msg&) {
        self->quit(make_error(errc::refused, "listening socket closed"));
      },
      [=](connected_atom, const std::string& host, uint16_t port, int fd) {
        net::set_user_timeout(fd, self->state.ctx->cfg.transport.dead_after_ms);
        auto hdl = self->add_scribe(fd);
        auto serial = new_serial(hdl);
        perform(self, self->state.core->on_connected(serial, {host, port},
                                                     self->clock().now()));
      },
      [=](conn_fail_atom, const std::string& host, uint16_t port,
          const std::string& why) {
        perform(self, self->state.core->on_connect_failed({host, port}, why,
                                                          self->clock().now()));
      },
      [=](tick_atom) {
        for (auto& [why, n] :
             self->state.refusals.expired(std::chrono::steady_clock::now()))
          log::warning("transport",
                       "refused " + std::to_string(n) + " more connections (" +
                           why +
                           ") in the last 10 s without a line each; "
                           "all are counted in "
                           "mycelium_transport_rejections_total");
        expire_pings(self);
        perform(self, self->state.core->on_tick(self->clock().now()));
        sample_gauges(self);
        self->delayed_send(self, tick, tick_atom::value);
      },
      [=](send_atom, const std::string& node, uint16_t kind,
          std::string& payload) {
        // Frames wait until the flush message queued behind every send now in
        // the mailbox: a burst of sends leaves in few TLS records.
        auto& st = self->state;
        st.frames_out->inc();
        // A message only this actor holds gives up its payload uncopied.
        perform(self,
                st.core->send(node, static_cast<wire::kind>(kind),
                              std::move(payload), self->clock().now(), false));
        if (!st.flush_pending) {
          st.flush_pending = true;
          self->send(self, flush_atom::value);
        }
      },
      [=](flush_atom) {
        self->state.flush_pending = false;
        perform(self, self->state.core->flush_all(self->clock().now()));
      },
      [=](console_atom, uint64_t conn, const std::string& payload) {
        perform(self,
                self->state.core->reply(conn, payload, self->clock().now()));
      },
      [=](ping_atom, const std::string& peer) -> caf::result<std::string> {
        auto& st = self->state;
        auto id = resolve_peer(self, peer);
        if (id.empty())
          return make_error(errc::no_such_actor,
                            "no connected peer named or prefixed '" + peer +
                                "'");
        auto token = std::to_string(++st.next_ping);
        auto rp = self->make_response_promise();
        st.pings.emplace(token,
                         std::make_pair(rp, std::chrono::steady_clock::now()));
        perform(self, st.core->send(id, wire::kind::ping, token,
                                    self->clock().now()));
        // Unanswered pings expire on the tick (no timer per ping).
        return rp;
      },
      [=](connect_atom, const std::string& address) {
        if (auto ep = config::parse_endpoint(address))
          self->state.core->add_target(*ep, self->clock().now());
      },
      [=](links_atom) {
        transport_links out;
        for (auto& c : self->state.core->connections(self->clock().now())) {
          out.frames += c.frames_in + c.frames_out;
          if (c.phase == "established")
            out.established.push_back({c.node_id, c.name, c.listen});
        }
        return out;
      },
      [=](heard_atom) -> int64_t {
        return self->state.core->heard_ago(self->clock().now());
      },
      [=](peers_atom) { return render_peers(self); },
      [=](status_atom) { return render_peers(self); },
      [=](fault_atom, const std::string& rule) {
        return apply_fault(self, rule);
      },
  };
}

} // namespace

child_spec transport_child(node_context_ptr ctx) {
  child_spec spec;
  spec.id = "transport";
  spec.start = [ctx](caf::event_based_actor* sup) {
    auto broker =
        sup->home_system().middleman().spawn_broker(transport_impl, ctx);
    sup->link_to(broker);
    return caf::actor{broker};
  };
  return spec;
}

} // namespace mycelium::actors
