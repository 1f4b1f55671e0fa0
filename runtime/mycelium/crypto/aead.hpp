#pragma once

/// One-shot AEAD sealing through Botan, for measurements: the ceiling any TLS
/// transport here can reach is one core encrypting with the negotiated
/// cipher (`mycelium-bench transport` prints it as "aead_limit_mb_s").

#include "mycelium/core/result.hpp"

#include <memory>
#include <string>

namespace mycelium::crypto {

class aead_sealer {
public:
  /// `algorithm` is a Botan name such as "AES-256/GCM" or "ChaCha20Poly1305".
  static result<aead_sealer> make(const std::string& algorithm);

  aead_sealer(aead_sealer&&) noexcept;
  ~aead_sealer();

  /// Encrypts and authenticates `size` bytes in place with a fresh nonce
  /// (the cipher alone: no copy, no allocation once warm); returns the
  /// sealed size (tag included).
  size_t seal(size_t size);

private:
  struct impl;
  explicit aead_sealer(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace mycelium::crypto
