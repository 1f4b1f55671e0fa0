#include "mycelium/transport/transport_core.hpp"

#include "mycelium/wire/frame.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <map>

using namespace mycelium;
using namespace mycelium::transport;
using namespace std::chrono_literals;

namespace {

const std::string key_1(32, '1');
const std::string key_2(32, '2');
const std::string admin_key(32, 'A');

settings make_settings(const std::string& name,
                       std::vector<std::string> keys = {key_1}) {
  settings s;
  s.cfg = transport_config::local();
  s.network_id = "net";
  s.name = name;
  s.listen = "127.0.0.1:" + std::to_string(7000 + name.back());
  s.isolation_keys = std::move(keys);
  s.admin_key = admin_key;
  s.software_version = "test";
  return s;
}

/// Several cores joined by in-memory connections. Writes are delivered in
/// order; closes reach the other side as `on_closed`.
struct network {
  struct node {
    crypto::node_identity id = crypto::node_identity::generate();
    std::unique_ptr<transport_core> core;
    std::vector<delivery> got;
    std::vector<event> events;
    std::vector<endpoint> connects;
  };

  std::vector<std::unique_ptr<node>> nodes;
  /// (node, conn) -> (node, conn) of the other end.
  std::map<std::pair<size_t, uint64_t>, std::pair<size_t, uint64_t>> links;
  /// Bytes on their way: (to node, to conn, bytes, from node, from conn).
  std::deque<std::tuple<size_t, uint64_t, std::string, size_t, uint64_t>>
      in_flight;
  /// Sockets drain at once: each delivered write is reported to its sender
  /// as written (on_write_progress with nothing remaining). When false, the
  /// test reports progress itself.
  bool drain = true;
  /// Bytes each (node, conn) handed to its socket.
  std::map<std::pair<size_t, uint64_t>, size_t> written;
  std::deque<std::pair<size_t, uint64_t>> closing;
  /// Consecutive writes to one connection arrive as one read (as a socket
  /// that the reader reaches late delivers them).
  bool coalesce = false;
  /// Every write is lost (a silent cut: no refusal, no close).
  bool cut = false;
  uint64_t next_conn = 1;
  time_point now{};

  size_t add(settings s) {
    auto n = std::make_unique<node>();
    n->core = std::make_unique<transport_core>(std::move(s), n->id, 7);
    nodes.push_back(std::move(n));
    return nodes.size() - 1;
  }

  size_t add_with_identity(settings s, const network::node& like) {
    auto n = std::make_unique<node>();
    n->core = std::make_unique<transport_core>(std::move(s), like.id, 9);
    nodes.push_back(std::move(n));
    return nodes.size() - 1;
  }

  transport_core& core(size_t i) { return *nodes[i]->core; }

  void apply(size_t i, effects fx) {
    auto& n = *nodes[i];
    for (auto& w : fx.writes) {
      written[{i, w.conn}] += w.bytes.size();
      auto peer = links.find({i, w.conn});
      if (peer != links.end() && !cut)
        in_flight.emplace_back(peer->second.first, peer->second.second,
                               std::string{w.bytes.begin(), w.bytes.end()}, i,
                               w.conn);
    }
    for (auto c : fx.closes) {
      auto peer = links.find({i, c});
      if (peer != links.end()) {
        closing.push_back(peer->second);
        links.erase(links.find(peer->second));
        links.erase(peer);
      }
    }
    for (auto& d : fx.deliveries)
      n.got.push_back(std::move(d));
    for (auto& e : fx.events)
      n.events.push_back(std::move(e));
    for (auto& c : fx.connects)
      n.connects.push_back(c);
  }

  /// Connects `from` to `to`; returns (from's conn, to's conn).
  std::pair<uint64_t, uint64_t> connect(size_t from, size_t to) {
    auto a = next_conn++;
    auto b = next_conn++;
    links[{from, a}] = {to, b};
    links[{to, b}] = {from, a};
    apply(to, core(to).on_accept(b, "peer-of-" + std::to_string(to), now));
    endpoint ep{"127.0.0.1", static_cast<uint16_t>(9000 + to)};
    apply(from, core(from).on_connected(a, ep, now));
    run();
    return {a, b};
  }

  /// `a` and `b` dial each other at the same moment: both handshakes are
  /// under way before either side reads anything.
  void dial_both(size_t a, size_t b) {
    uint64_t conn[4];
    for (auto& c : conn)
      c = next_conn++;
    links[{a, conn[0]}] = {b, conn[1]};
    links[{b, conn[1]}] = {a, conn[0]};
    links[{b, conn[2]}] = {a, conn[3]};
    links[{a, conn[3]}] = {b, conn[2]};
    apply(b, core(b).on_accept(conn[1], "peer-of-b", now));
    apply(a, core(a).on_accept(conn[3], "peer-of-a", now));
    apply(a, core(a).on_connected(
                 conn[0], {"127.0.0.1", static_cast<uint16_t>(9000 + b)}, now));
    apply(b, core(b).on_connected(
                 conn[2], {"127.0.0.1", static_cast<uint16_t>(9000 + a)}, now));
    run();
  }
  /// Raw bytes into node `to` on a fresh inbound connection.
  uint64_t inject(size_t to, const std::string& bytes) {
    auto c = next_conn++;
    apply(to, core(to).on_accept(c, "attacker", now));
    apply(to, core(to).on_bytes(c, bytes.data(), bytes.size(), now));
    run();
    return c;
  }

  void run() {
    for (int guard = 0; guard < 10000; ++guard) {
      if (!in_flight.empty()) {
        auto [to, conn, bytes, from, from_conn] = std::move(in_flight.front());
        in_flight.pop_front();
        while (coalesce && !in_flight.empty() &&
               std::get<0>(in_flight.front()) == to &&
               std::get<1>(in_flight.front()) == conn) {
          bytes += std::get<2>(in_flight.front());
          in_flight.pop_front();
        }
        apply(to, core(to).on_bytes(conn, bytes.data(), bytes.size(), now));
        if (drain)
          apply(from, core(from).on_write_progress(from_conn, 0, now));
      } else if (!closing.empty()) {
        auto [to, conn] = closing.front();
        closing.pop_front();
        apply(to, core(to).on_closed(conn, now));
      } else {
        return;
      }
    }
    FAIL("network did not settle");
  }

  void tick(duration d) {
    now += d;
    for (size_t i = 0; i < nodes.size(); ++i)
      apply(i, core(i).on_tick(now));
    run();
  }

  /// Reports node `i`'s connection `conn` as drained, once per step, until
  /// node `to` holds `count` deliveries (at most 100 steps); returns the
  /// number of reports.
  int drain_until(size_t i, uint64_t conn, size_t to, size_t count) {
    int reports = 0;
    while (nodes[to]->got.size() < count && reports < 100) {
      apply(i, core(i).on_write_progress(conn, 0, now));
      run();
      ++reports;
    }
    return reports;
  }

  bool has_event(size_t i, event::type what, reason why) {
    for (auto& e : nodes[i]->events)
      if (e.what == what && e.why == why)
        return true;
    return false;
  }

  uint64_t rejections(size_t i, reason why) {
    auto& r = core(i).totals().rejections;
    auto it = r.find(to_string(why));
    return it == r.end() ? 0 : it->second;
  }
};

/// Node a (high-water mark 64 KiB) connected to node b; a's socket is
/// drained only when the test reports it.
struct slow_socket {
  size_t a = 0;
  size_t b = 0;
  uint64_t conn_a = 0;
  std::string to_b;
};

slow_socket connect_slow_socket(network& net) {
  slow_socket s;
  auto sa = make_settings("a");
  sa.cfg.write_high_water_bytes = 64 * 1024;
  s.a = net.add(sa);
  s.b = net.add(make_settings("b"));
  s.conn_a = net.connect(s.a, s.b).first;
  s.to_b = net.nodes[s.b]->id.node_id();
  net.drain = false;
  return s;
}

} // namespace

TEST_CASE("two nodes complete TLS and Hello and exchange frames both ways") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  net.connect(a, b);
  CHECK(net.has_event(a, event::type::peer_up, reason::none));
  CHECK(net.has_event(b, event::type::peer_up, reason::none));
  REQUIRE(net.core(a).peers() ==
          std::vector<std::string>{net.nodes[b]->id.node_id()});
  REQUIRE(net.core(b).peers() ==
          std::vector<std::string>{net.nodes[a]->id.node_id()});
  net.apply(a, net.core(a).send(net.nodes[b]->id.node_id(), wire::kind::bench,
                                "from a", net.now));
  net.apply(b, net.core(b).send(net.nodes[a]->id.node_id(), wire::kind::bench,
                                "from b", net.now));
  net.run();
  REQUIRE(net.nodes[b]->got.size() == 1);
  CHECK(net.nodes[b]->got[0].payload == "from a");
  CHECK(net.nodes[b]->got[0].from == net.nodes[a]->id.node_id());
  REQUIRE(net.nodes[a]->got.size() == 1);
  CHECK(net.nodes[a]->got[0].payload == "from b");
  auto conns = net.core(a).connections(net.now);
  REQUIRE(conns.size() == 1);
  CHECK(conns[0].phase == "established");
  CHECK(conns[0].version == 1);
  CHECK(conns[0].name == "b");
}

TEST_CASE("the highest common protocol version is used") {
  network net;
  auto sa = make_settings("a");
  sa.cfg.protocol_min = 1;
  sa.cfg.protocol_max = 3;
  auto sb = make_settings("b");
  sb.cfg.protocol_min = 2;
  sb.cfg.protocol_max = 5;
  auto a = net.add(sa);
  auto b = net.add(sb);
  net.connect(a, b);
  CHECK(net.core(a).connections(net.now).at(0).version == 3);
  CHECK(net.core(b).connections(net.now).at(0).version == 3);
}

TEST_CASE("disjoint protocol ranges are refused with a Reject naming both") {
  // Also when the peer's Hello, its Reject and its close arrive in one read.
  for (bool coalesce : {false, true}) {
    CAPTURE(coalesce);
    network net;
    net.coalesce = coalesce;
    auto sa = make_settings("a");
    sa.cfg.protocol_min = 1;
    sa.cfg.protocol_max = 1;
    auto sb = make_settings("b");
    sb.cfg.protocol_min = 2;
    sb.cfg.protocol_max = 3;
    auto a = net.add(sa);
    auto b = net.add(sb);
    net.connect(a, b);
    CHECK(net.core(a).peers().empty());
    CHECK(net.core(b).peers().empty());
    CHECK(net.rejections(a, reason::version_mismatch) +
              net.rejections(b, reason::version_mismatch) >=
          1);
    bool named = false;
    for (auto* n : {net.nodes[a].get(), net.nodes[b].get()})
      for (auto& e : n->events)
        named = named ||
                (e.detail.find("ours 1-1, peer's 2-3") != std::string::npos ||
                 e.detail.find("ours 2-3, peer's 1-1") != std::string::npos);
    CHECK(named);
    CHECK(net.rejections(a, reason::version_mismatch) +
              net.rejections(a, reason::peer_rejected) >=
          1);
    CHECK(net.rejections(b, reason::version_mismatch) +
              net.rejections(b, reason::peer_rejected) >=
          1);
  }
}

TEST_CASE("a peer of another network is refused as wrong_network") {
  network net;
  auto a = net.add(make_settings("a"));
  auto other = make_settings("b");
  other.network_id = "othernet";
  auto b = net.add(other);
  net.connect(b, a); // b dials a
  CHECK(net.core(a).peers().empty());
  CHECK(net.rejections(a, reason::wrong_network) == 1);
  CHECK(net.core(b).peers().empty());
}

TEST_CASE("a peer with a key we do not hold is refused as unknown_key") {
  network net;
  auto a = net.add(make_settings("a", {key_1}));
  auto b = net.add(make_settings("b", {key_2}));
  net.connect(b, a);
  CHECK(net.core(a).peers().empty());
  CHECK(net.rejections(a, reason::unknown_key) == 1);
  CHECK(net.rejections(b, reason::tls_failed) == 1);
}

TEST_CASE("key rotation: nodes with the old and the new key first still "
          "connect") {
  network net;
  auto a = net.add(make_settings("a", {key_2, key_1})); // rotated
  auto b = net.add(make_settings("b", {key_1, key_2})); // not yet
  net.connect(a, b);
  net.connect(b, a);
  CHECK(net.core(a).peers().size() == 1);
  CHECK(net.core(b).peers().size() == 1);
}

TEST_CASE("garbage instead of TLS closes only that connection") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  net.connect(a, b);
  net.inject(a, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(net.rejections(a, reason::not_tls) == 1);
  CHECK(net.core(a).peers().size() == 1); // still serving b
}

TEST_CASE("a handshake that never completes times out") {
  network net;
  auto a = net.add(make_settings("a"));
  net.apply(a, net.core(a).on_accept(99, "slow", net.now));
  net.tick(1s);
  CHECK(net.rejections(a, reason::handshake_timeout) == 0);
  net.tick(2s);
  CHECK(net.rejections(a, reason::handshake_timeout) == 1);
}

TEST_CASE("beyond max_pending_handshakes the oldest inbound handshake is "
          "closed") {
  network net;
  auto cfg = make_settings("a");
  cfg.cfg.max_pending_handshakes = 2;
  auto a = net.add(cfg);
  auto b = net.add(make_settings("b"));
  net.apply(a, net.core(a).on_accept(97, "idle-1", net.now));
  net.tick(100ms);
  net.apply(a, net.core(a).on_accept(98, "idle-2", net.now));
  CHECK(net.rejections(a, reason::too_many_handshakes) == 0);
  auto third = net.core(a).on_accept(99, "idle-3", net.now);
  CHECK(third.closes == std::vector<uint64_t>{97});
  net.apply(a, std::move(third));
  CHECK(net.rejections(a, reason::too_many_handshakes) == 1);
  // A peer dialing in while idle connections hold every slot still gets
  // through: it pushes the oldest out and completes in time.
  net.connect(b, a);
  CHECK(net.core(a).peers().size() == 1);
  CHECK(net.rejections(a, reason::too_many_handshakes) == 2);
  // Once the last idle one times out, a new handshake closes nothing.
  net.tick(3s);
  CHECK(net.rejections(a, reason::handshake_timeout) == 1);
  CHECK(net.core(a).on_accept(100, "later", net.now).closes.empty());
}

TEST_CASE("a second connection claiming a connected id is refused") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  net.connect(b, a);
  auto impostor = net.add_with_identity(make_settings("c"), *net.nodes[b]);
  net.connect(impostor, a);
  CHECK(net.rejections(a, reason::duplicate_id) == 1);
  CHECK(net.core(a).peers().size() == 1);
  // The original connection still works.
  net.apply(b, net.core(b).send(net.nodes[a]->id.node_id(), wire::kind::bench,
                                "still here", net.now));
  net.run();
  REQUIRE_FALSE(net.nodes[a]->got.empty());
  CHECK(net.nodes[a]->got.back().payload == "still here");
}

TEST_CASE("nodes dialing each other at once keep exactly one connection") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  net.connect(a, b);
  net.connect(b, a);
  net.tick(10ms);
  CHECK(net.core(a).peers().size() == 1);
  CHECK(net.core(b).peers().size() == 1);
  CHECK(net.core(a).connections(net.now).size() == 1);
  CHECK(net.core(b).connections(net.now).size() == 1);
  CHECK(net.rejections(a, reason::duplicate_id) == 0);
}

TEST_CASE("a simultaneous dial's redundant connection is closed as such, "
          "never as a bad signature") {
  // Reads that find several records at once: the side that gives up the
  // redundant connection sends its Hello and the close together. The Hello
  // must still verify (its binding was taken when the session came up),
  // and nothing is counted as a refusal or a security event.
  for (int order = 0; order < 2; ++order) {
    network net;
    net.coalesce = true;
    auto a = net.add(make_settings("a"));
    auto b = net.add(make_settings("b"));
    if (order == 0)
      net.dial_both(a, b);
    else
      net.dial_both(b, a);
    net.tick(10ms);
    for (auto n : {a, b}) {
      CAPTURE(n);
      CHECK(net.core(n).peers().size() == 1);
      CHECK(net.core(n).connections(net.now).size() == 1);
      CHECK(net.rejections(n, reason::bad_signature) == 0);
      CHECK(net.rejections(n, reason::no_binding) == 0);
      CHECK(net.rejections(n, reason::duplicate_id) == 0);
      CHECK(net.core(n).totals().rejections.empty());
    }
  }
}

TEST_CASE("a Hello that arrives with the close of its channel is closed, "
          "not refused") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  net.coalesce = true;
  auto [ca, cb] = net.connect(a, b);
  (void)cb;
  // b is up; a new connection from a whose Hello comes with close_notify.
  auto c2 = net.add_with_identity(make_settings("c"), *net.nodes[a]);
  net.connect(c2, b);
  CHECK(net.rejections(b, reason::bad_signature) == 0);
  (void)ca;
}

TEST_CASE("an idle connection carries keepalives; a silent one is closed as "
          "silent_peer and redialled") {
  network net;
  auto sa = make_settings("a");
  auto a = net.add(sa);
  auto b = net.add(make_settings("b"));
  net.core(a).add_target({"127.0.0.1", static_cast<uint16_t>(9000 + b)},
                         net.now);
  net.connect(a, b);
  auto& cfg = sa.cfg;
  // Idle for many dead_after periods: keepalives keep both sides up.
  for (int i = 0; i < 3 * cfg.dead_after_ms / cfg.tick_ms; ++i)
    net.tick(from_ms(cfg.tick_ms));
  CHECK(net.core(a).peers().size() == 1);
  CHECK(net.core(b).peers().size() == 1);
  CHECK(net.core(a).heard_ago(net.now) <= cfg.keepalive_ms + cfg.tick_ms);
  CHECK(net.rejections(a, reason::silent_peer) == 0);
  CHECK(net.nodes[b]->got.empty()); // keepalives are not delivered
  // A silent cut: nothing arrives, nothing is refused or closed.
  net.cut = true;
  auto cut_at = net.now;
  while (net.core(a).peers().size() == 1 &&
         net.now - cut_at < from_ms(3 * cfg.dead_after_ms))
    net.tick(from_ms(cfg.tick_ms));
  CHECK(net.core(a).peers().empty());
  // Counted from the last byte heard, a keepalive period before the cut
  // at most.
  CHECK(net.now - cut_at >=
        from_ms(cfg.dead_after_ms - cfg.keepalive_ms - cfg.tick_ms));
  CHECK(net.now - cut_at <= from_ms(cfg.dead_after_ms + 2 * cfg.tick_ms));
  CHECK(net.rejections(a, reason::silent_peer) == 1);
  CHECK(net.core(a).heard_ago(net.now) >= cfg.dead_after_ms);
  // The dialer redials its target within the backoff's first step.
  net.nodes[a]->connects.clear();
  for (int i = 0; i < 10 && net.nodes[a]->connects.empty(); ++i)
    net.tick(from_ms(cfg.tick_ms));
  CHECK(net.nodes[a]->connects.size() == 1);
}

TEST_CASE("a frame for a peer in reconnect backoff dials it now") {
  network net;
  auto s = make_settings("a");
  s.cfg.reconnect_max_ms = 60000;
  auto a = net.add(s);
  auto b = net.add(make_settings("b"));
  net.core(a).add_target({"127.0.0.1", static_cast<uint16_t>(9000 + b)},
                         net.now);
  net.connect(a, b);
  auto peer = net.nodes[b]->id.node_id();
  net.cut = true;
  for (int i = 0; i < 100 && !net.core(a).peers().empty(); ++i)
    net.tick(from_ms(s.cfg.tick_ms));
  REQUIRE(net.core(a).peers().empty());
  // Redials fail for a while: the backoff grows far beyond a second.
  endpoint ep{"127.0.0.1", static_cast<uint16_t>(9000 + b)};
  for (int i = 0; i < 12; ++i) {
    net.tick(60s);
    if (!net.nodes[a]->connects.empty()) {
      net.nodes[a]->connects.clear();
      net.apply(a, net.core(a).on_connect_failed(ep, "timed out", net.now));
    }
  }
  net.tick(1s);
  REQUIRE(net.nodes[a]->connects.empty());
  // Membership's reconnect sends it a frame: it is dialled on the next tick.
  net.apply(a, net.core(a).send(peer, wire::kind::membership, "hi", net.now));
  net.tick(from_ms(s.cfg.tick_ms));
  CHECK(net.nodes[a]->connects.size() == 1);
}

TEST_CASE("an oversized frame closes the connection") {
  network net;
  auto sa = make_settings("a");
  sa.cfg.max_frame_bytes = 2048;
  auto a = net.add(sa);
  auto b = net.add(make_settings("b"));
  net.connect(b, a);
  net.apply(b, net.core(b).send(net.nodes[a]->id.node_id(), wire::kind::bench,
                                std::string(4096, 'x'), net.now));
  net.run();
  CHECK(net.rejections(a, reason::frame_too_large) == 1);
  CHECK(net.core(a).peers().empty());
}

TEST_CASE("frames to a peer wait in a bounded queue until it connects") {
  network net;
  auto sa = make_settings("a");
  sa.cfg.max_queue_frames = 3;
  auto a = net.add(sa);
  auto b = net.add(make_settings("b"));
  auto to_b = net.nodes[b]->id.node_id();
  for (int i = 0; i < 5; ++i)
    net.apply(a, net.core(a).send(to_b, wire::kind::bench,
                                  "m" + std::to_string(i), net.now));
  CHECK(net.core(a).totals().queue_full_drops == 2);
  net.connect(a, b);
  REQUIRE(net.nodes[b]->got.size() == 3);
  CHECK(net.nodes[b]->got[0].payload == "m0"); // oldest kept, in order
  CHECK(net.nodes[b]->got[2].payload == "m2");
}

TEST_CASE("a burst beyond the high-water mark leaves in slices as the "
          "socket drains, intact and in order") {
  network net;
  auto [a, b, conn_a, to_b] = connect_slow_socket(net);
  auto before = net.written[{a, conn_a}];
  std::vector<std::string> sent;
  for (int i = 0; i < 5; ++i) {
    // Large payloads (moved, not coalesced) and small ones in between.
    sent.push_back(std::string(100 * 1024 + i, static_cast<char>('a' + i)));
    sent.push_back("small " + std::to_string(i));
  }
  for (auto& p : sent)
    net.apply(a, net.core(a).send(to_b, wire::kind::bench, p, net.now));
  net.run();
  // Nothing reported written yet: at most the high-water mark of plaintext
  // (plus TLS record overhead) reached the socket.
  auto first = net.written[{a, conn_a}] - before;
  CHECK(first >= 64 * 1024);
  CHECK(first <= 64 * 1024 + 5 * 64);
  CHECK(net.nodes[b]->got.size() < sent.size());
  // The socket drains: one slice per report, until everything is through.
  int reports = net.drain_until(a, conn_a, b, sent.size());
  CHECK(reports >= 7); // ~500 KiB in 64 KiB slices: the first and 7 more
  REQUIRE(net.nodes[b]->got.size() == sent.size());
  for (size_t i = 0; i < sent.size(); ++i)
    CHECK(net.nodes[b]->got[i].payload == sent[i]);
  // A socket still holding more than the mark gets nothing new.
  net.apply(a, net.core(a).on_write_progress(conn_a, 64 * 1024, net.now));
  auto held = net.written[{a, conn_a}];
  net.apply(a, net.core(a).send(to_b, wire::kind::bench, "later", net.now));
  CHECK(net.written[{a, conn_a}] == held);
  net.apply(a, net.core(a).on_write_progress(conn_a, 0, net.now));
  net.run();
  CHECK(net.nodes[b]->got.back().payload == "later");
}

TEST_CASE("membership frames go ahead of a bulk transfer queued for the "
          "same peer") {
  network net;
  auto [a, b, conn_a, to_b] = connect_slow_socket(net);
  for (int i = 0; i < 6; ++i)
    net.apply(a, net.core(a).send(to_b, wire::kind::bench,
                                  std::string(100 * 1024, 'b'), net.now));
  net.apply(a, net.core(a).send(to_b, wire::kind::bench, "later", net.now));
  net.apply(a, net.core(a).send(to_b, wire::kind::membership, "m1", net.now));
  net.apply(a, net.core(a).send(to_b, wire::kind::membership, "m2", net.now));
  net.run();
  net.drain_until(a, conn_a, b, 9);
  auto& got = net.nodes[b]->got;
  REQUIRE(got.size() == 9);
  // Only the bulk frame already being encrypted went first.
  CHECK(got[1].payload == "m1");
  CHECK(got[2].payload == "m2");
  CHECK(got[1].kind == wire::kind::membership);
  CHECK(got.back().payload == "later"); // other kinds keep their order
}

TEST_CASE("a forged record on an established connection closes it as "
          "tls_failed, naming bad_record_mac") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  auto [conn_a, conn_b] = net.connect(a, b);
  (void)conn_a;
  std::string forged = {23, 3, 3, 0, 40};
  forged += std::string(40, '\x5a');
  net.apply(
      b, net.core(b).on_bytes(conn_b, forged.data(), forged.size(), net.now));
  net.run();
  CHECK(net.rejections(b, reason::tls_failed) == 1);
  CHECK(net.rejections(b, reason::wrong_key) == 0);
  bool named = false;
  for (auto& e : net.nodes[b]->events)
    named = named || e.detail.find("bad_record_mac") != std::string::npos;
  CHECK(named);
  CHECK(net.core(b).peers().empty());
}

TEST_CASE("a partition fault blocks traffic until cleared") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  net.connect(a, b);
  auto to_b = net.nodes[b]->id.node_id();
  fault_rule rule;
  rule.peer = to_b;
  rule.block_out = true;
  rule.block_in = true;
  net.core(a).set_fault(rule);
  net.apply(a, net.core(a).send(to_b, wire::kind::bench, "lost", net.now));
  net.apply(b, net.core(b).send(net.nodes[a]->id.node_id(), wire::kind::bench,
                                "also lost", net.now));
  net.run();
  CHECK(net.nodes[b]->got.empty());
  CHECK(net.nodes[a]->got.empty());
  CHECK(net.core(a).totals().fault_drops == 2);
  net.core(a).clear_faults();
  net.apply(a, net.core(a).send(to_b, wire::kind::bench, "back", net.now));
  net.run();
  REQUIRE(net.nodes[b]->got.size() == 1);
  CHECK(net.nodes[b]->got[0].payload == "back");
}

TEST_CASE("a delay fault holds frames until their time") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  net.connect(a, b);
  fault_rule rule;
  rule.delay_ms = 500;
  net.core(a).set_fault(rule);
  net.apply(a, net.core(a).send(net.nodes[b]->id.node_id(), wire::kind::bench,
                                "late", net.now));
  net.run();
  CHECK(net.nodes[b]->got.empty());
  net.tick(400ms);
  CHECK(net.nodes[b]->got.empty());
  net.tick(200ms);
  CHECK(net.nodes[b]->got.size() == 1);
}

TEST_CASE("seeds are dialed at start and redialed with backoff") {
  network net;
  auto s = make_settings("a");
  s.seeds = {{"127.0.0.1", 9001}, {"127.0.0.1", 7000 + 'a'}}; // 2nd is us
  auto a = net.add(s);
  net.apply(a, net.core(a).start(net.now));
  REQUIRE(net.nodes[a]->connects.size() == 1);
  CHECK(net.nodes[a]->connects[0].port == 9001);
  net.apply(a, net.core(a).on_connect_failed({"127.0.0.1", 9001}, "refused",
                                             net.now));
  net.nodes[a]->connects.clear();
  net.tick(50ms); // first retry after ~100 ms (local profile)
  CHECK(net.nodes[a]->connects.empty());
  net.tick(100ms);
  CHECK(net.nodes[a]->connects.size() == 1);
}

TEST_CASE("a console connection with the admin key carries requests") {
  network net;
  auto a = net.add(make_settings("a"));
  // Drive a raw console client against the core.
  auto client = crypto::tls_channel::client(admin_identity, admin_key);
  net.apply(a, net.core(a).on_accept(50, "console", net.now));
  std::string to_client;
  for (int i = 0; i < 10; ++i) {
    auto out = client->take_output();
    if (!out.empty()) {
      auto fx = net.core(a).on_bytes(50, out.data(), out.size(), net.now);
      for (auto& w : fx.writes)
        REQUIRE(client->received(w.bytes.data(), w.bytes.size()));
      net.apply(a, std::move(fx));
    }
  }
  REQUIRE(client->established());
  auto req = wire::encode_frame({3, "", "{\"cmd\":\"status\"}"});
  REQUIRE(client->send(req.data(), req.size()));
  auto out = client->take_output();
  net.apply(a, net.core(a).on_bytes(50, out.data(), out.size(), net.now));
  REQUIRE(net.nodes[a]->got.size() == 1);
  CHECK(net.nodes[a]->got[0].kind == wire::kind::console_request);
  CHECK(net.nodes[a]->got[0].payload == "{\"cmd\":\"status\"}");
  auto fx = net.core(a).reply(50, "{\"ok\":true}", net.now);
  REQUIRE(fx.writes.size() == 1);
  REQUIRE(
      client->received(fx.writes[0].bytes.data(), fx.writes[0].bytes.size()));
  wire::frame_decoder dec{1 << 20};
  REQUIRE(dec.feed(client->take_plaintext()));
  REQUIRE(dec.frames().size() == 1);
  CHECK(dec.frames()[0].payload == "{\"ok\":true}");
}

TEST_CASE("a ping is answered with a pong carrying the same payload") {
  network net;
  auto a = net.add(make_settings("a"));
  auto b = net.add(make_settings("b"));
  net.connect(a, b);
  net.apply(a, net.core(a).send(net.nodes[b]->id.node_id(), wire::kind::ping,
                                "token-7", net.now));
  net.run();
  CHECK(net.nodes[b]->got.empty()); // answered by the core, not delivered
  REQUIRE(net.nodes[a]->got.size() == 1);
  CHECK(net.nodes[a]->got[0].kind == wire::kind::pong);
  CHECK(net.nodes[a]->got[0].payload == "token-7");
}

TEST_CASE("the plaintext benchmark baseline speaks the same frames without "
          "TLS") {
  network net;
  auto sa = make_settings("a");
  sa.plaintext_for_benchmarks = true;
  auto sb = make_settings("b");
  sb.plaintext_for_benchmarks = true;
  auto a = net.add(sa);
  auto b = net.add(sb);
  net.connect(a, b);
  REQUIRE(net.core(a).peers().size() == 1);
  net.apply(a, net.core(a).send(net.nodes[b]->id.node_id(), wire::kind::bench,
                                "plain", net.now));
  net.run();
  REQUIRE(net.nodes[b]->got.size() == 1);
  CHECK(net.core(a).connections(net.now)[0].cipher.find("PLAINTEXT") !=
        std::string::npos);
}

TEST_CASE("fault commands are read whole or refused naming the field") {
  auto ok = parse_fault_command(
      R"({"peer":"n2","drop":0.5,"duplicate":1,"delay_ms":200,"partition":"in"})");
  REQUIRE(ok);
  CHECK_FALSE(ok->clear);
  CHECK(ok->rule.peer == "n2");
  CHECK(ok->rule.drop_out == 0.5);
  CHECK(ok->rule.duplicate == 1.0);
  CHECK(ok->rule.delay_ms == 200);
  CHECK(ok->rule.block_in);
  CHECK_FALSE(ok->rule.block_out);
  auto clear = parse_fault_command(R"({"clear":true})");
  REQUIRE(clear);
  CHECK(clear->clear);
  for (auto [text, field] : std::vector<std::pair<const char*, const char*>>{
           {R"({"duplicate":null})", "duplicate"},
           {R"({"drop":2.5})", "drop"},
           {R"({"drop_in":-1})", "drop_in"},
           {R"({"delay_ms":-5})", "delay_ms"},
           {R"({"delay_ms":1.5})", "delay_ms"},
           {R"({"peer":7})", "peer"},
           {R"({"clear":"yes"})", "clear"},
           {R"({"partition":"sideways"})", "partition"},
           {R"([1,2])", "object"},
           {"not json", "object"}}) {
    auto r = parse_fault_command(text);
    REQUIRE_FALSE(r);
    CHECK_MESSAGE(r.err().message().find(field) != std::string::npos, text);
  }
}
