#pragma once

/// A node's long-lived identity: an Ed25519 key pair generated on first start
/// and kept in the data dir (file mode 0600). The node id is derived from the
/// public key (the first 16 bytes of its SHA-256, as 32 hex characters), so
/// an id cannot be claimed without the private key: every Hello is signed.

#include "mycelium/core/result.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace mycelium::crypto {

class node_identity {
public:
  /// Loads `dir`/identity.key, or creates it (0600) when missing.
  static result<node_identity> load_or_create(const std::string& dir);

  /// A fresh identity that is never stored (tests, console sessions).
  static node_identity generate();

  node_identity(node_identity&&) noexcept;
  node_identity& operator=(node_identity&&) noexcept;
  ~node_identity();

  /// 32 hex characters derived from the public key.
  const std::string& node_id() const;

  /// The raw 32-byte public key.
  const std::string& public_key() const;

  /// Signs `msg` (64-byte Ed25519 signature).
  std::string sign(std::string_view msg) const;

  /// Checks `sig` over `msg` by `public_key`.
  static bool verify(std::string_view public_key, std::string_view msg,
                     std::string_view sig);

  /// The node id of `public_key`.
  static std::string derive_id(std::string_view public_key);

private:
  struct impl;
  explicit node_identity(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

/// Lower-case hex of `bytes`.
std::string to_hex(std::string_view bytes);

/// Decodes hex; fails on odd length or a non-hex character.
result<std::string> from_hex(std::string_view hex);

/// SHA-256 of `bytes` (32 raw bytes).
std::string sha256(std::string_view bytes);

} // namespace mycelium::crypto
