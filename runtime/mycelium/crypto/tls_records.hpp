#pragma once

/// The TLS 1.2 record layer for application data under an AEAD cipher
/// (RFC 5246 section 6.2.3.3; nonces per RFC 5288 for AES-GCM and RFC 7905
/// for ChaCha20-Poly1305), used by `tls_channel` once Botan has completed
/// the handshake.
///
/// Why not Botan's own: Botan 2 copies every record byte by byte into and
/// out of its buffers (vector inserts with its secure allocator), which on
/// bulk transfers cost about as much as the cipher itself. Here plaintext
/// is copied once with memcpy next to the record header and sealed in
/// place; received records are opened in place in the caller's buffer.
/// Keys come from the session Botan negotiated (key expansion with the
/// suite's PRF over the master secret and both hello randoms), so the bytes
/// on the wire are standard TLS: a peer using Botan's or OpenSSL's record
/// layer reads them (tests/unit/crypto/tls_records.cpp checks both
/// directions against Botan).

#include "mycelium/core/result.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mycelium::crypto {

/// What a peer sent besides application data.
enum class record_event : uint8_t {
  none,
  /// close_notify: the peer ended the channel gracefully.
  closed,
};

class tls_records {
public:
  /// Derives both directions' keys. `cipher` and `prf` are Botan names
  /// ("AES-256/GCM", "SHA-384"); `next_write_seq` / `next_read_seq` are the
  /// sequence numbers of the first records this layer writes and reads.
  static result<std::unique_ptr<tls_records>>
  make(bool is_server, const std::string& cipher, const std::string& prf,
       size_t key_bytes, size_t iv_bytes, const uint8_t* master,
       size_t master_size, const std::vector<uint8_t>& client_random,
       const std::vector<uint8_t>& server_random, uint64_t next_write_seq,
       uint64_t next_read_seq);

  ~tls_records();

  /// Seals `data` as application data records (at most 16 KiB of
  /// plaintext each) and appends them to `out`.
  void seal(const char* data, size_t size, std::vector<char>& out);

  /// Seals a warning-level close_notify alert.
  void seal_close_notify(std::vector<char>& out);

  /// Opens every complete record in the bytes received so far (`data`
  /// plus what an earlier call kept) and appends their plaintext to
  /// `plaintext`. An error (bad record MAC, a record too long, a
  /// renegotiation attempt, a fatal alert) names the cause; the channel
  /// must then be closed.
  result<record_event> open(const char* data, size_t size,
                            std::string& plaintext);

private:
  struct impl;
  explicit tls_records(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace mycelium::crypto
