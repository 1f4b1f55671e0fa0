#include "mycelium/crypto/tls_channel.hpp"

#include "mycelium/crypto/errc.hpp"
#include "mycelium/crypto/identity.hpp"

#include <botan/auto_rng.h>
#include <botan/credentials_manager.h>
#include <botan/tls_client.h>
#include <botan/tls_exceptn.h>
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
  std::vector<std::string> allowed_ciphers() const override {
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

const psk_policy& policy() {
  static psk_policy instance;
  return instance;
}

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
  std::string alert;
  std::string suite;
  bool active = false;
  bool failed = false;
  /// The peer closed the channel gracefully (close_notify).
  bool peer_closed = false;
  /// Pass-through without TLS (benchmark baseline only).
  bool passthrough = false;
  Botan::AutoSeeded_RNG rng;
  Botan::TLS::Session_Manager_Noop sessions;
  std::unique_ptr<Botan::TLS::Channel> channel;

  // -- Callbacks ----------------------------------------------------------

  void tls_emit_data(const uint8_t data[], size_t size) override {
    out.insert(out.end(), reinterpret_cast<const char*>(data),
               reinterpret_cast<const char*>(data) + size);
  }

  void tls_record_received(uint64_t, const uint8_t data[],
                           size_t size) override {
    plain.append(reinterpret_cast<const char*>(data), size);
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
    suite = s.ciphersuite().to_string();
    return false; // never cache sessions
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
                                                 const std::string& key) {
  auto st = std::make_unique<impl>();
  st->identity = identity;
  st->key = key;
  auto* raw = st.get();
  std::unique_ptr<tls_channel> ch{new tls_channel(std::move(st))};
  try {
    raw->channel = std::make_unique<Botan::TLS::Client>(
        *raw, raw->sessions, *raw, policy(), raw->rng,
        Botan::TLS::Server_Information{},
        Botan::TLS::Protocol_Version::TLS_V12);
  } catch (const std::exception& e) {
    raw->failed = true;
    raw->alert = e.what();
  }
  return ch;
}

std::unique_ptr<tls_channel>
tls_channel::server(std::shared_ptr<const psk_table> accepted) {
  auto st = std::make_unique<impl>();
  st->is_server = true;
  st->accepted = std::move(accepted);
  auto* raw = st.get();
  std::unique_ptr<tls_channel> ch{new tls_channel(std::move(st))};
  raw->channel = std::make_unique<Botan::TLS::Server>(*raw, raw->sessions, *raw,
                                                      policy(), raw->rng);
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
    st.plain.append(data, size);
    return ok();
  }
  try {
    st.channel->received_data(reinterpret_cast<const uint8_t*>(data), size);
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
  try {
    st.channel->send(reinterpret_cast<const uint8_t*>(data), size);
  } catch (const std::exception& e) {
    st.failed = true;
    st.active = false;
    return make_error(errc::handshake_failed, e.what());
  }
  return ok();
}

void tls_channel::close() {
  auto& st = *impl_;
  try {
    if (!st.failed && !st.peer_closed && st.channel && !st.passthrough)
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
