#include "mycelium/crypto/tls_channel.hpp"

#include "mycelium/crypto/errc.hpp"
#include "mycelium/crypto/identity.hpp"
#include "mycelium/crypto/tls_records.hpp"

#include <botan/auto_rng.h>
#include <botan/credentials_manager.h>
#include <botan/tls_client.h>
#include <botan/tls_exceptn.h>
#include <botan/tls_messages.h>
#include <botan/tls_policy.h>
#include <botan/tls_server.h>
#include <botan/tls_session.h>
#include <botan/tls_session_manager.h>

namespace mycelium::crypto {

std::string key_fingerprint(const std::string& key) {
  return to_hex(sha256(key).substr(0, 4));
}

namespace {

/// True when the CPU has AES instructions (AES-GCM is then fastest).
bool has_aes_instructions() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("aes");
#else
  return false;
#endif
}

/// TLS 1.2, ECDHE-PSK, AEAD only; unknown identities hidden.
class psk_policy : public Botan::TLS::Policy {
public:
  /// Preferred ciphers (empty: by CPU).
  std::vector<std::string> ciphers;

  std::vector<std::string> allowed_ciphers() const override {
    if (!ciphers.empty())
      return ciphers;
    if (has_aes_instructions())
      return {"AES-256/GCM", "ChaCha20Poly1305", "AES-128/GCM"};
    return {"ChaCha20Poly1305", "AES-256/GCM", "AES-128/GCM"};
  }
  std::vector<std::string> allowed_macs() const override { return {"AEAD"}; }
  std::vector<std::string> allowed_key_exchange_methods() const override {
    return {"ECDHE_PSK"};
  }
  std::vector<std::string> allowed_signature_methods() const override {
    return {"IMPLICIT"};
  }
  bool allow_tls10() const override { return false; }
  bool allow_tls11() const override { return false; }
  bool allow_tls12() const override { return true; }
  bool allow_dtls10() const override { return false; }
  bool allow_dtls12() const override { return false; }
  bool hide_unknown_users() const override { return true; }
  bool allow_client_initiated_renegotiation() const override { return false; }
  bool allow_server_initiated_renegotiation() const override { return false; }
  bool server_uses_own_ciphersuite_preferences() const override { return true; }
  uint32_t session_ticket_lifetime() const override { return 0; }
};

/// A process-wide key for Botan's session tickets (we disable resumption,
/// but the server still asks for one).
const Botan::SymmetricKey& ticket_key() {
  static Botan::SymmetricKey key = [] {
    Botan::AutoSeeded_RNG rng;
    return Botan::SymmetricKey{rng, 32};
  }();
  return key;
}

} // namespace

struct tls_channel::impl : Botan::TLS::Callbacks, Botan::Credentials_Manager {
  bool is_server = false;
  // Client side.
  std::string identity;
  std::string key;
  // Server side.
  std::shared_ptr<const psk_table> accepted;
  std::string requested;
  const psk_entry* matched = nullptr;
  // State.
  std::vector<char> out;
  std::string plain;
  /// Where decrypted data goes (`plain` unless set_plaintext_sink).
  std::string* sink = &plain;
  std::string alert;
  std::string suite;
  bool active = false;
  bool failed = false;
  /// The peer closed the channel gracefully (close_notify).
  bool peer_closed = false;
  /// Pass-through without TLS (benchmark baseline only).
  bool passthrough = false;
  tls_options options;
  psk_policy policy;
  Botan::AutoSeeded_RNG rng;
  Botan::TLS::Session_Manager_Noop sessions;
  std::unique_ptr<Botan::TLS::Channel> channel;

  // Application data records after the handshake (see tls_records).
  std::vector<uint8_t> client_random;
  std::vector<uint8_t> server_random;
  Botan::secure_vector<uint8_t> master;
  std::string cipher;
  std::string prf;
  size_t key_bytes = 0;
  size_t iv_bytes = 0;
  /// Sequence number of the last record Botan delivered (0: its Finished).
  uint64_t last_read_seq = 0;
  /// Bytes Botan still needs to complete a record it started.
  size_t botan_needed = 0;
  std::unique_ptr<tls_records> records;
  /// Sent while Botan finishes reading its last record; sealed on switch.
  std::string deferred;

  // -- Callbacks ----------------------------------------------------------

  void tls_emit_data(const uint8_t data[], size_t size) override {
    out.insert(out.end(), reinterpret_cast<const char*>(data),
               reinterpret_cast<const char*>(data) + size);
  }

  void tls_record_received(uint64_t seq, const uint8_t data[],
                           size_t size) override {
    sink->append(reinterpret_cast<const char*>(data), size);
    last_read_seq = seq;
  }

  void
  tls_inspect_handshake_msg(const Botan::TLS::Handshake_Message& msg) override {
    if (auto* hello = dynamic_cast<const Botan::TLS::Client_Hello*>(&msg))
      client_random = hello->random();
    else if (auto* sh = dynamic_cast<const Botan::TLS::Server_Hello*>(&msg))
      server_random = sh->random();
  }

  void tls_alert(Botan::TLS::Alert a) override {
    alert = a.type_string();
    if (a.type() == Botan::TLS::Alert::CLOSE_NOTIFY) {
      active = false;
      peer_closed = true;
    } else if (a.is_fatal()) {
      active = false;
      failed = true;
    }
  }

  bool tls_session_established(const Botan::TLS::Session& s) override {
    auto cs = s.ciphersuite();
    suite = cs.to_string();
    master.assign(s.master_secret().begin(), s.master_secret().end());
    cipher = cs.cipher_algo();
    prf = cs.prf_algo();
    key_bytes = cs.cipher_keylen();
    iv_bytes = cs.nonce_bytes_from_handshake();
    return false; // never cache sessions
  }

  /// Once Botan is done with the handshake and on a record boundary,
  /// records go through tls_records (Botan wrote only its Finished, seq 0).
  status switch_records() {
    auto r = tls_records::make(is_server, cipher, prf, key_bytes, iv_bytes,
                               master.data(), master.size(), client_random,
                               server_random, 1, last_read_seq + 1);
    Botan::zap(master); // wiped and freed
    if (!r)
      return r.err();
    records = std::move(*r);
    if (!deferred.empty()) {
      records->seal(deferred.data(), deferred.size(), out);
      deferred.clear();
    }
    return ok();
  }

  status open_records(const char* data, size_t size) {
    auto ev = records->open(data, size, *sink);
    if (!ev) {
      failed = true;
      active = false;
      if (alert.empty())
        alert = ev.err().message();
      return ev.err();
    }
    if (*ev == record_event::closed) {
      alert = "close_notify";
      active = false;
      peer_closed = true;
    }
    return ok();
  }

  void tls_session_activated() override { active = true; }

  // -- Credentials_Manager ------------------------------------------------

  std::string psk_identity_hint(const std::string&,
                                const std::string&) override {
    return "";
  }

  std::string psk_identity(const std::string&, const std::string&,
                           const std::string&) override {
    return identity;
  }

  Botan::SymmetricKey psk(const std::string& type, const std::string& context,
                          const std::string& id) override {
    if (type == "tls-server" && context == "session-ticket")
      return ticket_key();
    if (type == "tls-client")
      return Botan::SymmetricKey{reinterpret_cast<const uint8_t*>(key.data()),
                                 key.size()};
    requested = id;
    for (auto& e : *accepted) {
      if (e.identity == id) {
        matched = &e;
        return Botan::SymmetricKey{
            reinterpret_cast<const uint8_t*>(e.key.data()), e.key.size()};
      }
    }
    // Botan hides the unknown identity from the peer (hide_unknown_users).
    throw Botan::Invalid_Argument("unknown PSK identity");
  }
};

tls_channel::tls_channel(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {}

tls_channel::~tls_channel() = default;

std::unique_ptr<tls_channel> tls_channel::client(const std::string& identity,
                                                 const std::string& key,
                                                 tls_options options) {
  auto st = std::make_unique<impl>();
  st->identity = identity;
  st->key = key;
  st->policy.ciphers = options.ciphers;
  st->options = std::move(options);
  auto* raw = st.get();
  std::unique_ptr<tls_channel> ch{new tls_channel(std::move(st))};
  try {
    raw->channel = std::make_unique<Botan::TLS::Client>(
        *raw, raw->sessions, *raw, raw->policy, raw->rng,
        Botan::TLS::Server_Information{},
        Botan::TLS::Protocol_Version::TLS_V12);
  } catch (const std::exception& e) {
    raw->failed = true;
    raw->alert = e.what();
  }
  return ch;
}

std::unique_ptr<tls_channel>
tls_channel::server(std::shared_ptr<const psk_table> accepted,
                    tls_options options) {
  auto st = std::make_unique<impl>();
  st->is_server = true;
  st->accepted = std::move(accepted);
  st->policy.ciphers = options.ciphers;
  st->options = std::move(options);
  auto* raw = st.get();
  std::unique_ptr<tls_channel> ch{new tls_channel(std::move(st))};
  raw->channel = std::make_unique<Botan::TLS::Server>(*raw, raw->sessions, *raw,
                                                      raw->policy, raw->rng);
  return ch;
}

std::unique_ptr<tls_channel> tls_channel::plaintext_for_benchmarks() {
  static const psk_entry peer{"plaintext", "", "peer"};
  auto st = std::make_unique<impl>();
  st->passthrough = true;
  st->active = true;
  st->matched = &peer;
  st->suite = "PLAINTEXT (benchmark baseline, no TLS)";
  return std::unique_ptr<tls_channel>{new tls_channel(std::move(st))};
}

status tls_channel::received(const char* data, size_t size) {
  auto& st = *impl_;
  if (st.failed || st.peer_closed)
    return make_error(errc::not_established, "channel is closed");
  if (st.passthrough) {
    st.sink->append(data, size);
    return ok();
  }
  if (st.records)
    return st.open_records(data, size);
  try {
    while (size > 0) {
      // After the handshake, Botan only completes the record it started.
      size_t take = size;
      if (st.active && st.botan_needed > 0)
        take = std::min(size, st.botan_needed);
      st.botan_needed = st.channel->received_data(
          reinterpret_cast<const uint8_t*>(data), take);
      data += take;
      size -= take;
      if (st.active && !st.failed && !st.peer_closed &&
          !st.options.botan_records && st.botan_needed == 0) {
        if (auto sw = st.switch_records(); !sw) {
          st.failed = true;
          st.active = false;
          return sw;
        }
        return size > 0 ? st.open_records(data, size) : ok();
      }
    }
  } catch (const Botan::TLS::TLS_Exception& e) {
    st.failed = true;
    st.active = false;
    auto type = Botan::TLS::Alert(e.type()).type_string();
    if (st.alert.empty())
      st.alert = type;
    // Records that are not TLS at all (garbage, plain HTTP) fail the record
    // layer before any handshake message.
    bool garbage = e.type() == Botan::TLS::Alert::PROTOCOL_VERSION ||
                   e.type() == Botan::TLS::Alert::RECORD_OVERFLOW ||
                   std::string{e.what()}.find("record") != std::string::npos;
    return make_error(garbage && !st.channel->is_active()
                          ? errc::not_tls
                          : errc::handshake_failed,
                      std::string{e.what()} + " (" + type + ")");
  } catch (const std::exception& e) {
    st.failed = true;
    st.active = false;
    if (st.alert.empty())
      st.alert = e.what();
    return make_error(errc::handshake_failed, e.what());
  }
  if (st.failed)
    return make_error(errc::handshake_failed, "peer sent alert " + st.alert);
  return ok();
}

status tls_channel::send(const char* data, size_t size) {
  auto& st = *impl_;
  if (!st.active || st.failed)
    return make_error(errc::not_established, "channel is not established");
  if (st.passthrough) {
    st.out.insert(st.out.end(), data, data + size);
    return ok();
  }
  if (st.records) {
    st.records->seal(data, size, st.out);
    return ok();
  }
  if (!st.options.botan_records) {
    // Botan is still reading its last record: seal these on the switch.
    st.deferred.append(data, size);
    return ok();
  }
  try {
    st.channel->send(reinterpret_cast<const uint8_t*>(data), size);
  } catch (const std::exception& e) {
    st.failed = true;
    st.active = false;
    return make_error(errc::handshake_failed, e.what());
  }
  return ok();
}

size_t tls_channel::held_bytes() const {
  return impl_->deferred.size();
}

void tls_channel::reserve_output(size_t plaintext_bytes) {
  auto& out = impl_->out;
  // 29 bytes per 16 KiB record at most (header, nonce, tag), and a spare.
  out.reserve(out.size() + plaintext_bytes +
              (plaintext_bytes / 16384 + 2) * 29);
}

void tls_channel::close() {
  auto& st = *impl_;
  try {
    if (!st.failed && !st.peer_closed && st.records)
      st.records->seal_close_notify(st.out);
    else if (!st.failed && !st.peer_closed && st.channel && !st.passthrough)
      st.channel->close();
  } catch (const std::exception&) {
    // closing anyway
  }
  st.active = false;
  st.failed = true;
}

bool tls_channel::established() const {
  return impl_->active && !impl_->failed && !impl_->peer_closed;
}

bool tls_channel::closed() const {
  return impl_->failed || impl_->peer_closed;
}

bool tls_channel::peer_closed() const {
  return impl_->peer_closed && !impl_->failed;
}

std::string tls_channel::take_output() {
  std::string out{impl_->out.begin(), impl_->out.end()};
  impl_->out.clear();
  return out;
}

std::vector<char> tls_channel::take_output_bytes() {
  std::vector<char> out;
  out.swap(impl_->out);
  return out;
}

std::string tls_channel::take_plaintext() {
  std::string out;
  out.swap(impl_->plain);
  return out;
}

void tls_channel::set_plaintext_sink(std::string* sink) {
  impl_->sink = sink;
}

const std::string& tls_channel::requested_identity() const {
  return impl_->requested;
}

const psk_entry* tls_channel::peer_entry() const {
  return established() ? impl_->matched : nullptr;
}

result<std::string> tls_channel::exporter(const std::string& label,
                                          size_t length) const {
  if (!established())
    return make_error(errc::not_established, "no session to export from");
  if (impl_->passthrough)
    return std::string(length, '\0');
  try {
    auto key = impl_->channel->key_material_export(label, "", length);
    return std::string{key.begin(), key.end()};
  } catch (const std::exception& e) {
    return make_error(errc::not_established, e.what());
  }
}

std::string tls_channel::ciphersuite() const {
  return impl_->suite;
}

const std::string& tls_channel::last_alert() const {
  return impl_->alert;
}

} // namespace mycelium::crypto
