// libFuzzer target: the TLS record layer's decoder (tls_records::open) must
// refuse any bytes it cannot authenticate without crashing, read back what
// its peer sealed in any split, and never yield altered plaintext: after one
// flipped byte, what it delivers is a prefix of what was sealed.

#include "mycelium/crypto/tls_records.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

using mycelium::crypto::tls_records;

std::unique_ptr<tls_records> side(bool is_server, int cipher) {
  static const std::vector<uint8_t> master(48, 0x11);
  static const std::vector<uint8_t> client_random(32, 0x22);
  static const std::vector<uint8_t> server_random(32, 0x33);
  const char* names[] = {"AES-256/GCM", "ChaCha20Poly1305", "AES-128/GCM"};
  const char* prfs[] = {"SHA-384", "SHA-256", "SHA-256"};
  size_t keys[] = {32, 32, 16};
  size_t ivs[] = {4, 12, 4};
  auto r = tls_records::make(is_server, names[cipher], prfs[cipher],
                             keys[cipher], ivs[cipher], master.data(),
                             master.size(), client_random, server_random, 1, 1);
  if (!r)
    __builtin_trap();
  return std::move(*r);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  int cipher = data[0] % 3;
  size_t split = data[1];
  std::string bytes{reinterpret_cast<const char*>(data + 2), size - 2};
  split = bytes.empty() ? 0 : split % (bytes.size() + 1);

  // Arbitrary bytes as if received: refused or (never, without the key)
  // opened; no crash either way.
  {
    auto server = side(true, cipher);
    std::string plain;
    if (server->open(bytes.data(), split, plain))
      (void)server->open(bytes.data() + split, bytes.size() - split, plain);
  }

  // Sealed by the client, opened by the server in two pieces.
  auto client = side(false, cipher);
  auto server = side(true, cipher);
  std::vector<char> wire;
  client->seal(bytes.data(), bytes.size(), wire);
  client->seal(bytes.data(), bytes.size() / 2, wire);
  std::string expected = bytes + bytes.substr(0, bytes.size() / 2);
  size_t cut = wire.empty() ? 0 : split % wire.size();
  std::string plain;
  auto a = server->open(wire.data(), cut, plain);
  auto b = server->open(wire.data() + cut, wire.size() - cut, plain);
  if (!a || !b || plain != expected)
    __builtin_trap();

  // One flipped byte: whatever is delivered was sealed, in order.
  if (!wire.empty()) {
    auto c2 = side(false, cipher);
    auto s2 = side(true, cipher);
    std::vector<char> w2;
    c2->seal(bytes.data(), bytes.size(), w2);
    c2->seal(bytes.data(), bytes.size() / 2, w2);
    w2[split % w2.size()] ^= static_cast<char>(1 + data[1] % 255);
    std::string got;
    (void)s2->open(w2.data(), w2.size(), got);
    if (got != expected.substr(0, got.size()))
      __builtin_trap();
  }
  return 0;
}
