#include "mycelium/crypto/identity.hpp"

#include "mycelium/crypto/errc.hpp"

#include <botan/auto_rng.h>
#include <botan/ed25519.h>
#include <botan/hash.h>
#include <botan/hex.h>
#include <botan/pubkey.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace mycelium::crypto {

const char* to_string(errc code) {
  switch (code) {
  case errc::bad_identity_file:
    return "bad_identity_file";
  case errc::handshake_failed:
    return "handshake_failed";
  case errc::not_tls:
    return "not_tls";
  case errc::not_established:
    return "not_established";
  case errc::bad_signature:
    return "bad_signature";
  case errc::bad_key:
    return "bad_key";
  }
  return "unknown";
}

std::string to_hex(std::string_view bytes) {
  return Botan::hex_encode(reinterpret_cast<const uint8_t*>(bytes.data()),
                           bytes.size(), false);
}

result<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return make_error(errc::bad_key, "odd number of hex digits");
  try {
    auto bytes = Botan::hex_decode(hex.data(), hex.size(), false);
    return std::string{bytes.begin(), bytes.end()};
  } catch (const std::exception& e) {
    return make_error(errc::bad_key, std::string{"not hex: "} + e.what());
  }
}

std::string sha256(std::string_view bytes) {
  auto hash = Botan::HashFunction::create_or_throw("SHA-256");
  hash->update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  auto out = hash->final();
  return std::string{out.begin(), out.end()};
}

struct node_identity::impl {
  std::unique_ptr<Botan::Ed25519_PrivateKey> key;
  std::string public_key;
  std::string node_id;

  explicit impl(std::unique_ptr<Botan::Ed25519_PrivateKey> k)
      : key(std::move(k)) {
    auto pub = key->get_public_key();
    public_key.assign(pub.begin(), pub.end());
    node_id = derive_id(public_key);
  }
};

node_identity::node_identity(std::unique_ptr<impl> ptr)
    : impl_(std::move(ptr)) {}

node_identity::node_identity(node_identity&&) noexcept = default;
node_identity& node_identity::operator=(node_identity&&) noexcept = default;
node_identity::~node_identity() = default;

node_identity node_identity::generate() {
  Botan::AutoSeeded_RNG rng;
  return node_identity{
      std::make_unique<impl>(std::make_unique<Botan::Ed25519_PrivateKey>(rng))};
}

result<node_identity> node_identity::load_or_create(const std::string& dir) {
  auto path = dir + "/identity.key";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    auto fresh = generate();
    auto secret = fresh.impl_->key->get_private_key();
    auto hex = Botan::hex_encode(secret.data(), secret.size(), false) + "\n";
    // Write to a temporary file with 0600, then rename: never a partial key.
    auto tmp = path + ".tmp";
    int fd =
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      return make_error(errc::bad_identity_file,
                        path + ": cannot create: " + std::strerror(errno));
    auto written = ::write(fd, hex.data(), hex.size());
    bool ok = written == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
      return make_error(errc::bad_identity_file,
                        path + ": cannot write: " + std::strerror(errno));
    return fresh;
  }
  if ((st.st_mode & 077) != 0)
    return make_error(errc::bad_identity_file,
                      path + ": private key is readable by others (mode " +
                          std::to_string(st.st_mode & 0777) +
                          "); chmod 600 it");
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  auto bytes = from_hex(line);
  if (!bytes || bytes->size() != 64)
    return make_error(errc::bad_identity_file,
                      path + ": expected 64 bytes of hex (Ed25519 secret key)");
  try {
    Botan::secure_vector<uint8_t> secret(bytes->begin(), bytes->end());
    auto key = std::make_unique<Botan::Ed25519_PrivateKey>(secret);
    // The stored public half must match the secret half.
    auto pub = key->get_public_key();
    if (std::string(pub.begin(), pub.end()) != bytes->substr(32))
      return make_error(errc::bad_identity_file,
                        path + ": public and secret key do not match");
    return node_identity{std::make_unique<impl>(std::move(key))};
  } catch (const std::exception& e) {
    return make_error(errc::bad_identity_file, path + ": " + e.what());
  }
}

const std::string& node_identity::node_id() const {
  return impl_->node_id;
}

const std::string& node_identity::public_key() const {
  return impl_->public_key;
}

std::string node_identity::sign(std::string_view msg) const {
  Botan::AutoSeeded_RNG rng;
  Botan::PK_Signer signer{*impl_->key, rng, "Pure"};
  auto sig = signer.sign_message(reinterpret_cast<const uint8_t*>(msg.data()),
                                 msg.size(), rng);
  return std::string{sig.begin(), sig.end()};
}

bool node_identity::verify(std::string_view public_key, std::string_view msg,
                           std::string_view sig) {
  if (public_key.size() != 32 || sig.size() != 64)
    return false;
  try {
    std::vector<uint8_t> pub(public_key.begin(), public_key.end());
    Botan::Ed25519_PublicKey key{pub};
    Botan::PK_Verifier verifier{key, "Pure"};
    return verifier.verify_message(
        reinterpret_cast<const uint8_t*>(msg.data()), msg.size(),
        reinterpret_cast<const uint8_t*>(sig.data()), sig.size());
  } catch (const std::exception&) {
    return false;
  }
}

std::string node_identity::derive_id(std::string_view public_key) {
  return to_hex(sha256(public_key).substr(0, 16));
}

} // namespace mycelium::crypto
