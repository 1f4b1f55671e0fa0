// Our TLS 1.2 application-data record layer (tls_records) against Botan's
// own: either side may use either, for every cipher a node offers, with
// bytes split anywhere.

#include "mycelium/crypto/tls_channel.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace mycelium;
using namespace mycelium::crypto;

namespace {

const std::string key(32, 'k');
const std::string identity = "net/" + key_fingerprint(key);

std::shared_ptr<const psk_table> table() {
  return std::make_shared<psk_table>(psk_table{{identity, key, "peer"}});
}

/// Hands `bytes` to `to` in random pieces; false on the first error.
bool deliver(tls_channel& to, const std::string& bytes, std::mt19937& rng,
             size_t max_piece, status* err = nullptr) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t n = std::uniform_int_distribution<size_t>(1, max_piece)(rng);
    n = std::min(n, bytes.size() - pos);
    auto st = to.received(bytes.data() + pos, n);
    if (!st) {
      if (err != nullptr)
        *err = st;
      return false;
    }
    pos += n;
  }
  return true;
}

/// Runs the handshake, then checks data both ways; returns the pair.
struct pair {
  std::unique_ptr<tls_channel> client;
  std::unique_ptr<tls_channel> server;
};

pair handshake(bool client_botan, bool server_botan, const std::string& cipher,
               std::mt19937& rng, size_t max_piece) {
  pair p;
  p.server = tls_channel::server(table(), {server_botan, {cipher}});
  p.client = tls_channel::client(identity, key, {client_botan, {cipher}});
  for (int i = 0; i < 10; ++i) {
    auto c = p.client->take_output();
    auto s = p.server->take_output();
    if (c.empty() && s.empty())
      break;
    REQUIRE(deliver(*p.server, c, rng, max_piece));
    REQUIRE(deliver(*p.client, s, rng, max_piece));
  }
  REQUIRE(p.client->established());
  REQUIRE(p.server->established());
  return p;
}

std::string message(size_t size, std::mt19937& rng) {
  std::string m(size, '\0');
  for (auto& ch : m)
    ch = static_cast<char>(rng());
  return m;
}

const char* suite_name(const std::string& cipher) {
  if (cipher == "AES-256/GCM")
    return "AES_256_GCM";
  if (cipher == "AES-128/GCM")
    return "AES_128_GCM";
  return "CHACHA20_POLY1305";
}

} // namespace

TEST_CASE("our records and Botan's read each other, every cipher, any "
          "split") {
  for (std::string cipher : {"AES-256/GCM", "ChaCha20Poly1305", "AES-128/GCM"})
    for (auto [client_botan, server_botan] :
         {std::pair{false, true}, std::pair{true, false},
          std::pair{false, false}}) {
      CAPTURE(cipher);
      CAPTURE(client_botan);
      CAPTURE(server_botan);
      std::mt19937 rng{42};
      for (size_t max_piece : {size_t{1} << 20, size_t{7000}, size_t{3}}) {
        CAPTURE(max_piece);
        auto p = handshake(client_botan, server_botan, cipher, rng, max_piece);
        CHECK(p.client->ciphersuite().find(suite_name(cipher)) !=
              std::string::npos);
        for (size_t size :
             {size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{16383},
              size_t{16384}, size_t{16385}, size_t{100001}}) {
          CAPTURE(size);
          auto up = message(size, rng);
          auto down = message(size + 3, rng);
          REQUIRE(p.client->send(up.data(), up.size()));
          REQUIRE(p.server->send(down.data(), down.size()));
          REQUIRE(deliver(*p.server, p.client->take_output(), rng, max_piece));
          REQUIRE(deliver(*p.client, p.server->take_output(), rng, max_piece));
          CHECK(p.server->take_plaintext() == up);
          CHECK(p.client->take_plaintext() == down);
        }
        // close_notify ends the channel gracefully on the other side.
        p.client->close();
        REQUIRE(deliver(*p.server, p.client->take_output(), rng, max_piece));
        CHECK(p.server->peer_closed());
        CHECK_FALSE(p.server->established());
      }
    }
}

TEST_CASE("data right behind the Finished, and data sent while the last "
          "handshake record is incomplete, arrive in order") {
  for (auto client_botan : {false, true}) {
    CAPTURE(client_botan);
    std::mt19937 rng{7};
    auto server = tls_channel::server(table());
    auto client = tls_channel::client(identity, key, {client_botan, {}});
    // ClientHello; server flight; client Finished flight.
    auto ch = client->take_output();
    REQUIRE(server->received(ch.data(), ch.size()));
    auto sf = server->take_output();
    REQUIRE(client->received(sf.data(), sf.size()));
    auto cf = client->take_output();
    REQUIRE(server->received(cf.data(), cf.size()));
    REQUIRE(server->established());
    // The server's Finished and its first data leave in one flight; the
    // client gets all but the last bytes of that data record first.
    REQUIRE(server->send("first", 5));
    auto flight = server->take_output();
    REQUIRE(client->received(flight.data(), flight.size() - 10));
    REQUIRE(client->established());
    // Sent while Botan still holds a record it started.
    REQUIRE(client->send("early", 5));
    // Held, not sealed, and counted so the transport stops handing more.
    CHECK(client->held_bytes() == (client_botan ? 0 : 5));
    REQUIRE(client->received(flight.data() + flight.size() - 10, 10));
    CHECK(client->held_bytes() == 0);
    REQUIRE(server->send("second", 6));
    auto more = server->take_output();
    REQUIRE(deliver(*client, more, rng, 5));
    CHECK(client->take_plaintext() == "firstsecond");
    auto up = client->take_output();
    REQUIRE(deliver(*server, up, rng, 5));
    CHECK(server->take_plaintext() == "early");
  }
}

TEST_CASE("a tampered or oversized record is refused with the cause") {
  std::mt19937 rng{1};
  auto p = handshake(false, false, "AES-256/GCM", rng, 1 << 20);
  REQUIRE(p.client->send("secret", 6));
  auto rec = p.client->take_output();
  rec[rec.size() - 20] ^= 1;
  auto st = p.server->received(rec.data(), rec.size());
  REQUIRE_FALSE(st);
  CHECK(st.err().message().find("bad_record_mac") != std::string::npos);
  CHECK(p.server->closed());
  CHECK(p.server->take_plaintext().empty());

  auto q = handshake(false, false, "ChaCha20Poly1305", rng, 1 << 20);
  std::string huge = {23, 3, 3, '\xff', '\xff'};
  auto st2 = q.server->received(huge.data(), huge.size());
  REQUIRE_FALSE(st2);
  CHECK(st2.err().message().find("record_overflow") != std::string::npos);
  CHECK(q.server->closed());
}
