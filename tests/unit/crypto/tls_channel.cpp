#include "mycelium/crypto/tls_channel.hpp"
#include "mycelium/crypto/errc.hpp"
#include "mycelium/crypto/identity.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

using namespace mycelium;
using namespace mycelium::crypto;

namespace {

const std::string key_a(32, 'a');
const std::string key_b(32, 'b');

std::shared_ptr<const psk_table> table() {
  return std::make_shared<psk_table>(
      psk_table{{"net/" + key_fingerprint(key_a), key_a, "peer"},
                {"net/" + key_fingerprint(key_b), key_b, "peer"},
                {"admin", key_b, "admin"}});
}

/// Shuttles bytes between two channels until neither has output.
void pump(tls_channel& a, tls_channel& b, status* a_st = nullptr,
          status* b_st = nullptr) {
  for (int i = 0; i < 20; ++i) {
    auto x = a.take_output();
    auto y = b.take_output();
    if (x.empty() && y.empty())
      return;
    if (!x.empty()) {
      auto st = b.received(x.data(), x.size());
      if (b_st && !st)
        *b_st = st;
    }
    if (!y.empty()) {
      auto st = a.received(y.data(), y.size());
      if (a_st && !st)
        *a_st = st;
    }
  }
}

} // namespace

TEST_CASE("a client with a known identity and key completes the handshake") {
  auto server = tls_channel::server(table());
  auto client = tls_channel::client("net/" + key_fingerprint(key_b), key_b);
  pump(*client, *server);
  REQUIRE(client->established());
  REQUIRE(server->established());
  REQUIRE(server->peer_entry() != nullptr);
  CHECK(server->peer_entry()->role == "peer");
  CHECK(server->peer_entry()->key == key_b);
  CHECK(client->ciphersuite().find("ECDHE_PSK") != std::string::npos);
  // Application data flows both ways.
  REQUIRE(client->send("ping", 4));
  REQUIRE(server->send("pong!", 5));
  pump(*client, *server);
  CHECK(server->take_plaintext() == "ping");
  CHECK(client->take_plaintext() == "pong!");
  // Both sides export the same channel binding.
  CHECK(*client->exporter("EXPERIMENTAL-test", 32) ==
        *server->exporter("EXPERIMENTAL-test", 32));
}

TEST_CASE("a wrong key fails the handshake on both sides") {
  auto server = tls_channel::server(table());
  // The identity names key a, the client holds another key.
  auto client = tls_channel::client("net/" + key_fingerprint(key_a),
                                    std::string(32, 'z'));
  status cs = ok();
  status ss = ok();
  pump(*client, *server, &cs, &ss);
  CHECK_FALSE(client->established());
  CHECK_FALSE(server->established());
  CHECK((!cs || !ss));
  CHECK(server->closed());
}

TEST_CASE("an unknown identity is hidden from the client but known to the "
          "server") {
  auto server = tls_channel::server(table());
  auto client = tls_channel::client("othernet/00000000", key_a);
  status ss = ok();
  pump(*client, *server, nullptr, &ss);
  CHECK_FALSE(client->established());
  CHECK_FALSE(server->established());
  CHECK(server->requested_identity() == "othernet/00000000");
  CHECK(server->peer_entry() == nullptr);
}

TEST_CASE("garbage instead of TLS is refused without an exception") {
  auto server = tls_channel::server(table());
  std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  auto st = server->received(http.data(), http.size());
  REQUIRE_FALSE(st);
  CHECK(server->closed());
  CHECK_FALSE(server->received("x", 1)); // stays closed
}

TEST_CASE("sending before the handshake is refused") {
  auto client = tls_channel::client("net/x", key_a);
  CHECK_FALSE(client->send("x", 1));
}

TEST_CASE("a node identity is created once with mode 0600 and reloaded") {
  test::temp_dir dir;
  auto first = node_identity::load_or_create(dir.path());
  REQUIRE(first);
  CHECK(first->node_id().size() == 32);
  struct stat st;
  REQUIRE(::stat((dir / "identity.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = node_identity::load_or_create(dir.path());
  REQUIRE(again);
  CHECK(again->node_id() == first->node_id());
  CHECK(again->public_key() == first->public_key());
}

TEST_CASE("signatures verify only for the signed message and key") {
  auto id = node_identity::generate();
  auto other = node_identity::generate();
  auto sig = id.sign("hello");
  CHECK(node_identity::verify(id.public_key(), "hello", sig));
  CHECK_FALSE(node_identity::verify(id.public_key(), "hellO", sig));
  CHECK_FALSE(node_identity::verify(other.public_key(), "hello", sig));
  CHECK_FALSE(node_identity::verify("short", "hello", sig));
  CHECK(node_identity::derive_id(id.public_key()) == id.node_id());
}

TEST_CASE("a damaged or exposed identity file is refused with its path") {
  test::temp_dir dir;
  dir.write("identity.key", "not hex\n");
  ::chmod((dir / "identity.key").c_str(), 0600);
  auto bad = node_identity::load_or_create(dir.path());
  REQUIRE_FALSE(bad);
  CHECK(bad.err().message().find("identity.key") != std::string::npos);
  REQUIRE(::unlink((dir / "identity.key").c_str()) == 0);
  REQUIRE(node_identity::load_or_create(dir.path()));
  ::chmod((dir / "identity.key").c_str(), 0644);
  auto exposed = node_identity::load_or_create(dir.path());
  REQUIRE_FALSE(exposed);
  CHECK(exposed.err().message().find("readable by others") !=
        std::string::npos);
}

TEST_CASE("hex round-trips and rejects bad input") {
  CHECK(to_hex("\x01\xab") == "01ab");
  CHECK(*from_hex("01ab") == "\x01\xab");
  CHECK_FALSE(from_hex("abc"));
  CHECK_FALSE(from_hex("zz"));
}
