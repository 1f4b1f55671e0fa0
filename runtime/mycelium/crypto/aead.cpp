#include "mycelium/crypto/aead.hpp"

#include "mycelium/crypto/errc.hpp"

#include <botan/aead.h>

namespace mycelium::crypto {

struct aead_sealer::impl {
  std::unique_ptr<Botan::AEAD_Mode> mode;
  uint64_t counter = 0;
  Botan::secure_vector<uint8_t> buf;
};

aead_sealer::aead_sealer(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {}

aead_sealer::aead_sealer(aead_sealer&&) noexcept = default;
aead_sealer::~aead_sealer() = default;

result<aead_sealer> aead_sealer::make(const std::string& algorithm) {
  auto st = std::make_unique<impl>();
  st->mode = Botan::AEAD_Mode::create(algorithm, Botan::ENCRYPTION);
  if (!st->mode)
    return make_error(errc::bad_key, "unknown AEAD " + algorithm);
  std::vector<uint8_t> key(st->mode->maximum_keylength(), 0x42);
  st->mode->set_key(key);
  return aead_sealer{std::move(st)};
}

size_t aead_sealer::seal(size_t size) {
  auto& st = *impl_;
  std::vector<uint8_t> nonce(st.mode->default_nonce_length(), 0);
  auto n = ++st.counter;
  for (size_t i = 0; i < 8 && i < nonce.size(); ++i)
    nonce[i] = static_cast<uint8_t>(n >> (8 * i));
  st.mode->start(nonce);
  // The bytes sealed last time (plus their tag) are this time's plaintext:
  // only the length is set, nothing is copied or written before the cipher.
  st.buf.resize(size);
  st.mode->finish(st.buf);
  return st.buf.size();
}

} // namespace mycelium::crypto
