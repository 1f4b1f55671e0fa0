#pragma once

/// A TLS 1.2 channel with a pre-shared key, sans-IO: bytes from the socket go
/// in through `received`, bytes for the socket come out of `take_output`,
/// decrypted application data out of `take_plaintext`. No sockets, no
/// threads: the transport decides when to read and write.
///
/// Key exchange is ECDHE-PSK only, with AEAD ciphers only: AES-256/GCM first
/// when the CPU has AES instructions (fast between our nodes), and
/// ChaCha20-Poly1305 always offered, so standard clients such as
/// `openssl s_client -psk` connect. Botan runs the handshake; application
/// data records are then sealed and opened by `tls_records` (standard TLS
/// 1.2 records, without Botan's per-byte copies). Unknown PSK identities are
/// hidden from the peer (it sees the same failure as for a wrong key) while the
/// server still records which identity was asked for, so its log can name the
/// cause.
///
/// Botan throws on bad input; every call here catches and reports an error,
/// after which the channel is closed. The owner must not destroy the channel
/// from inside these calls (it never calls back into the owner).

#include "mycelium/core/result.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mycelium::crypto {

/// One pre-shared key a server accepts, and what the peer using it may do.
struct psk_entry {
  /// PSK identity the client sends.
  std::string identity;
  /// Raw key bytes.
  std::string key;
  /// "peer" (a node of the network) or "admin" (the console).
  std::string role;
};

using psk_table = std::vector<psk_entry>;

/// First 4 bytes of SHA-256 of `key`, in hex: names a key without revealing
/// it (PSK identities and logs).
std::string key_fingerprint(const std::string& key);

/// Choices a channel can be given (the defaults are what nodes use).
struct tls_options {
  /// Protect application data with Botan's own record layer instead of
  /// `tls_records` (tests check the two against each other).
  bool botan_records = false;
  /// Ciphers in order of preference (Botan names); empty: AES-256/GCM first
  /// when the CPU has AES instructions, ChaCha20Poly1305 first otherwise.
  std::vector<std::string> ciphers;
};

class tls_channel {
public:
  /// A client that offers `identity` with `key`.
  static std::unique_ptr<tls_channel> client(const std::string& identity,
                                             const std::string& key,
                                             tls_options options = {});

  /// A server that accepts the entries of `accepted`.
  static std::unique_ptr<tls_channel>
  server(std::shared_ptr<const psk_table> accepted, tls_options options = {});

  /// NOT SECURE: a pass-through with the same interface and no TLS, the
  /// plain-TCP baseline of `mycelium-bench transport`. Never reachable from a
  /// config file.
  static std::unique_ptr<tls_channel> plaintext_for_benchmarks();

  ~tls_channel();

  /// Feeds bytes received from the socket.
  status received(const char* data, size_t size);

  /// Encrypts `data` as application data (coalesced into as few records as
  /// Botan allows); fails unless established.
  status send(const char* data, size_t size);

  /// Plaintext `send` accepted but could not seal yet (right after the
  /// handshake, until Botan has read the last record it started): the
  /// transport counts it as unwritten, so what it holds stays bounded.
  size_t held_bytes() const;

  /// Makes room for the records of `plaintext_bytes` more bytes that are
  /// about to be sent in several calls, so the output buffer is allocated
  /// once instead of regrown (and copied) on the way.
  void reserve_output(size_t plaintext_bytes);

  /// Sends close_notify.
  void close();

  /// True once the handshake completed and until the channel closes.
  bool established() const;

  /// True after a fatal alert, an error or close_notify.
  bool closed() const;

  /// True when the peer ended the channel gracefully (close_notify).
  bool peer_closed() const;

  /// Bytes to write to the socket (drains the buffer).
  std::string take_output();
  /// The same without a copy, in the socket layer's buffer type (the
  /// transport swaps it into CAF's write buffer).
  std::vector<char> take_output_bytes();

  /// Decrypted application data (drains the buffer).
  std::string take_plaintext();

  /// From now on, decrypted application data is appended to `*sink` (which
  /// must outlive the channel) instead of the buffer `take_plaintext` drains:
  /// the transport points this at its frame decoder's input.
  void set_plaintext_sink(std::string* sink);

  /// The identity the client asked for (server side; "" before).
  const std::string& requested_identity() const;

  /// The accepted entry the client authenticated with (server side, after
  /// the handshake; nullptr before or when unknown).
  const psk_entry* peer_entry() const;

  /// Keying material bound to this session (RFC 5705), for channel binding.
  result<std::string> exporter(const std::string& label, size_t length) const;

  /// Negotiated ciphersuite, e.g. "ECDHE_PSK_WITH_AES_256_GCM_SHA384".
  std::string ciphersuite() const;

  /// Last alert received or sent, e.g. "bad_record_mac" ("" if none).
  const std::string& last_alert() const;

private:
  struct impl;
  explicit tls_channel(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace mycelium::crypto
