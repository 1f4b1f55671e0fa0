#include "mycelium/crypto/tls_records.hpp"

#include "mycelium/crypto/errc.hpp"

#include <botan/aead.h>
#include <botan/kdf.h>
#include <botan/tls_alert.h>

#include <array>
#include <cstring>

namespace mycelium::crypto {

namespace {

constexpr uint8_t type_alert = 21;
constexpr uint8_t type_handshake = 22;
constexpr uint8_t type_application_data = 23;
constexpr size_t header_bytes = 5;
/// RFC 5246 6.2: plaintext fragments are at most 2^14 bytes, and a
/// ciphertext may exceed its plaintext by at most 2048.
constexpr size_t max_plaintext = 16384;
constexpr size_t max_ciphertext = max_plaintext + 2048;
/// AES-GCM records carry 8 bytes of nonce (RFC 5288); ChaCha20-Poly1305
/// records none (RFC 7905).
constexpr size_t explicit_nonce_bytes = 8;
/// Header, explicit nonce and tag: the most a record adds to its data.
constexpr size_t record_overhead = header_bytes + explicit_nonce_bytes + 16;

void put_u64(uint8_t* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

} // namespace

struct tls_records::impl {
  std::unique_ptr<Botan::AEAD_Mode> enc;
  std::unique_ptr<Botan::AEAD_Mode> dec;
  std::vector<uint8_t> write_iv;
  std::vector<uint8_t> read_iv;
  /// AES-GCM: 4 implicit bytes + 8 in the record; ChaCha: 12 XOR seq.
  bool explicit_nonce = true;
  size_t tag_bytes = 16;
  uint64_t write_seq = 0;
  uint64_t read_seq = 0;
  /// An incomplete record from earlier input.
  std::string partial;
  /// Scratch for the last partial block and the tag.
  Botan::secure_vector<uint8_t> tail;

  /// The record's 12-byte nonce (every cipher here uses 12 bytes).
  std::array<uint8_t, 12> nonce(const std::vector<uint8_t>& iv, uint64_t seq,
                                const uint8_t* in_record) const {
    std::array<uint8_t, 12> n{};
    std::memcpy(n.data(), iv.data(), iv.size());
    if (explicit_nonce) {
      std::memcpy(n.data() + iv.size(), in_record, explicit_nonce_bytes);
    } else {
      uint8_t s[8];
      put_u64(s, seq);
      for (size_t i = 0; i < 8; ++i)
        n[4 + i] ^= s[i];
    }
    return n;
  }

  /// Additional data: seq_num + type + version + plaintext length.
  static std::array<uint8_t, 13> ad(uint64_t seq, uint8_t type, size_t len) {
    std::array<uint8_t, 13> a{};
    put_u64(a.data(), seq);
    a[8] = type;
    a[9] = 3;
    a[10] = 3;
    a[11] = static_cast<uint8_t>(len >> 8);
    a[12] = static_cast<uint8_t>(len & 0xff);
    return a;
  }

  /// Appends one record of `type` holding `size` bytes from `data` to
  /// `out`: the plaintext is copied once and encrypted where it lands.
  void seal_record(uint8_t type, const char* data, size_t size,
                   std::vector<char>& out) {
    auto seq = write_seq++;
    size_t expl = explicit_nonce ? explicit_nonce_bytes : 0;
    size_t len = expl + size + tag_bytes;
    out.push_back(static_cast<char>(type));
    out.push_back(3);
    out.push_back(3);
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len & 0xff));
    uint8_t explicit_part[explicit_nonce_bytes];
    put_u64(explicit_part, seq);
    if (explicit_nonce)
      out.insert(out.end(), explicit_part, explicit_part + expl);
    size_t body = out.size();
    out.insert(out.end(), data, data + size);
    auto a = ad(seq, type, size);
    enc->set_associated_data(a.data(), a.size());
    auto n = nonce(write_iv, seq, explicit_part);
    enc->start(n.data(), n.size());
    size_t bulk = size / enc->update_granularity() * enc->update_granularity();
    auto* bytes = reinterpret_cast<uint8_t*>(out.data());
    if (bulk > 0)
      enc->process(bytes + body, bulk);
    tail.assign(bytes + body + bulk, bytes + body + size);
    enc->finish(tail);
    out.resize(body + bulk);
    out.insert(out.end(), tail.begin(), tail.end());
  }

  /// Opens one whole record at `rec` (header included).
  result<record_event> open_record(const uint8_t* rec, std::string& plain) {
    uint8_t type = rec[0];
    size_t len = (size_t{rec[3]} << 8) | rec[4];
    size_t expl = explicit_nonce ? explicit_nonce_bytes : 0;
    if (len < expl + tag_bytes)
      return make_error(errc::handshake_failed,
                        "TLS record too short for its cipher "
                        "(decode_error)");
    auto seq = read_seq++;
    size_t size = len - expl - tag_bytes;
    const uint8_t* body = rec + header_bytes + expl;
    auto a = ad(seq, type, size);
    dec->set_associated_data(a.data(), a.size());
    auto n = nonce(read_iv, seq, rec + header_bytes);
    dec->start(n.data(), n.size());
    size_t off = plain.size();
    plain.append(reinterpret_cast<const char*>(body), size);
    size_t bulk = size / dec->update_granularity() * dec->update_granularity();
    auto* bytes = reinterpret_cast<uint8_t*>(plain.data()) + off;
    if (bulk > 0)
      dec->process(bytes, bulk);
    tail.assign(body + bulk, body + size + tag_bytes);
    try {
      dec->finish(tail);
    } catch (const std::exception&) {
      plain.resize(off);
      return make_error(errc::handshake_failed,
                        "TLS record failed authentication (bad_record_mac)");
    }
    if (!tail.empty())
      std::memcpy(bytes + bulk, tail.data(), tail.size());
    if (type == type_application_data)
      return record_event::none;
    std::string content = plain.substr(off);
    plain.resize(off);
    if (type == type_alert && content.size() == 2) {
      auto code = static_cast<uint8_t>(content[1]);
      if (code == 0) // close_notify
        return record_event::closed;
      return make_error(
          errc::handshake_failed,
          "peer sent alert " +
              Botan::TLS::Alert(static_cast<Botan::TLS::Alert::Type>(code))
                  .type_string());
    }
    if (type == type_handshake)
      return make_error(errc::handshake_failed,
                        "handshake message after the handshake "
                        "(renegotiation is refused)");
    return make_error(errc::handshake_failed,
                      "unexpected TLS record type " + std::to_string(type));
  }

  /// Checks a header; returns the record's total size.
  result<size_t> record_size(const uint8_t* h) const {
    if (h[1] != 3 || h[2] != 3)
      return make_error(errc::handshake_failed,
                        "TLS record of another version (protocol_version)");
    size_t len = (size_t{h[3]} << 8) | h[4];
    if (len > max_ciphertext)
      return make_error(errc::handshake_failed,
                        "TLS record of " + std::to_string(len) +
                            " bytes exceeds 18432 (record_overflow)");
    return header_bytes + len;
  }
};

tls_records::tls_records(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {}

tls_records::~tls_records() = default;

result<std::unique_ptr<tls_records>>
tls_records::make(bool is_server, const std::string& cipher,
                  const std::string& prf, size_t key_bytes, size_t iv_bytes,
                  const uint8_t* master, size_t master_size,
                  const std::vector<uint8_t>& client_random,
                  const std::vector<uint8_t>& server_random,
                  uint64_t next_write_seq, uint64_t next_read_seq) {
  if (iv_bytes != 4 && iv_bytes != 12)
    return make_error(errc::handshake_failed, "no record layer for nonces of " +
                                                  std::to_string(iv_bytes) +
                                                  " bytes");
  auto st = std::make_unique<impl>();
  try {
    auto kdf = Botan::KDF::create_or_throw("TLS-12-PRF(" + prf + ")");
    std::vector<uint8_t> seed(server_random);
    seed.insert(seed.end(), client_random.begin(), client_random.end());
    const std::string label = "key expansion";
    auto block = kdf->derive_key(2 * key_bytes + 2 * iv_bytes, master,
                                 master_size, seed.data(), seed.size(),
                                 reinterpret_cast<const uint8_t*>(label.data()),
                                 label.size());
    const uint8_t* client_key = block.data();
    const uint8_t* server_key = client_key + key_bytes;
    const uint8_t* client_iv = server_key + key_bytes;
    const uint8_t* server_iv = client_iv + iv_bytes;
    st->enc = Botan::AEAD_Mode::create_or_throw(cipher, Botan::ENCRYPTION);
    st->dec = Botan::AEAD_Mode::create_or_throw(cipher, Botan::DECRYPTION);
    st->enc->set_key(is_server ? server_key : client_key, key_bytes);
    st->dec->set_key(is_server ? client_key : server_key, key_bytes);
    st->write_iv.assign(is_server ? server_iv : client_iv,
                        (is_server ? server_iv : client_iv) + iv_bytes);
    st->read_iv.assign(is_server ? client_iv : server_iv,
                       (is_server ? client_iv : server_iv) + iv_bytes);
    st->explicit_nonce = iv_bytes == 4;
    st->tag_bytes = st->enc->tag_size();
  } catch (const std::exception& e) {
    return make_error(errc::handshake_failed,
                      std::string{"record layer keys: "} + e.what());
  }
  st->write_seq = next_write_seq;
  st->read_seq = next_read_seq;
  return std::unique_ptr<tls_records>{new tls_records(std::move(st))};
}

void tls_records::seal(const char* data, size_t size, std::vector<char>& out) {
  auto& st = *impl_;
  size_t records = (size + max_plaintext - 1) / max_plaintext;
  size_t needed = out.size() + size + records * record_overhead;
  if (out.capacity() < needed) // grow geometrically: callers append often
    out.reserve(std::max(needed, 2 * out.capacity()));
  while (size > 0) {
    size_t n = std::min(size, max_plaintext);
    st.seal_record(type_application_data, data, n, out);
    data += n;
    size -= n;
  }
}

void tls_records::seal_close_notify(std::vector<char>& out) {
  const char alert[2] = {1, 0}; // warning, close_notify
  impl_->seal_record(type_alert, alert, sizeof(alert), out);
}

result<record_event> tls_records::open(const char* data, size_t size,
                                       std::string& plaintext) {
  auto& st = *impl_;
  auto take = [&](size_t n) {
    n = std::min(n, size);
    st.partial.append(data, n);
    data += n;
    size -= n;
  };
  for (;;) {
    // A record split across reads is completed in `partial` first.
    if (!st.partial.empty()) {
      if (st.partial.size() < header_bytes)
        take(header_bytes - st.partial.size());
      if (st.partial.size() < header_bytes)
        return record_event::none;
      auto total =
          st.record_size(reinterpret_cast<const uint8_t*>(st.partial.data()));
      if (!total)
        return total.err();
      take(*total - st.partial.size());
      if (st.partial.size() < *total)
        return record_event::none;
      auto ev = st.open_record(
          reinterpret_cast<const uint8_t*>(st.partial.data()), plaintext);
      st.partial.clear();
      if (!ev || *ev != record_event::none)
        return ev;
      continue;
    }
    if (size == 0)
      return record_event::none;
    if (size < header_bytes) {
      take(size);
      return record_event::none;
    }
    auto total = st.record_size(reinterpret_cast<const uint8_t*>(data));
    if (!total)
      return total.err();
    if (size < *total) {
      take(size);
      return record_event::none;
    }
    auto ev = st.open_record(reinterpret_cast<const uint8_t*>(data), plaintext);
    data += *total;
    size -= *total;
    if (!ev || *ev != record_event::none)
      return ev;
  }
}

} // namespace mycelium::crypto
