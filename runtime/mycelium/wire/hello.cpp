#include "mycelium/wire/hello.hpp"

#include "mycelium/wire/frame.hpp"

#include "envelope_generated.h"

#include <algorithm>

namespace mycelium::wire {

namespace {

error malformed(std::string what) {
  return error{"wire", static_cast<uint8_t>(errc::malformed_payload),
               std::move(what)};
}

std::string bytes_of(const flatbuffers::Vector<uint8_t>* v) {
  if (v == nullptr)
    return {};
  return std::string{reinterpret_cast<const char*>(v->data()), v->size()};
}

std::string str_of(const flatbuffers::String* s) {
  return s == nullptr ? std::string{} : s->str();
}

void put(std::string& out, std::string_view field) {
  auto n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(field.data(), field.size());
}

} // namespace

std::string hello_signed_bytes(const hello& h, std::string_view binding) {
  std::string out = "mycelium-hello-v1";
  put(out, binding);
  put(out, h.node_id);
  put(out, h.public_key);
  put(out, h.software_version);
  put(out,
      std::to_string(h.min_protocol) + "-" + std::to_string(h.max_protocol));
  for (auto& c : h.capabilities)
    put(out, c);
  put(out, h.listen);
  put(out, h.name);
  return out;
}

std::string encode_hello(const hello& h) {
  flatbuffers::FlatBufferBuilder fbb{256};
  auto as_bytes = [&](const std::string& s) {
    return fbb.CreateVector(reinterpret_cast<const uint8_t*>(s.data()),
                            s.size());
  };
  auto node_id = as_bytes(h.node_id);
  auto version = fbb.CreateString(h.software_version);
  auto caps = fbb.CreateVectorOfStrings(h.capabilities);
  auto sig = as_bytes(h.signature);
  auto pub = as_bytes(h.public_key);
  auto listen = fbb.CreateString(h.listen);
  auto name = fbb.CreateString(h.name);
  auto root = fb::CreateHello(fbb, node_id, version, h.min_protocol,
                              h.max_protocol, caps, sig, pub, listen, name);
  fbb.Finish(root);
  return std::string{reinterpret_cast<const char*>(fbb.GetBufferPointer()),
                     fbb.GetSize()};
}

result<hello> decode_hello(std::string_view payload) {
  flatbuffers::Verifier verifier{
      reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
  if (!verifier.VerifyBuffer<fb::Hello>(nullptr))
    return malformed("Hello payload does not verify");
  auto* fh = flatbuffers::GetRoot<fb::Hello>(payload.data());
  hello h;
  h.node_id = bytes_of(fh->node_id());
  h.public_key = bytes_of(fh->public_key());
  h.software_version = str_of(fh->software_version());
  h.min_protocol = fh->min_protocol();
  h.max_protocol = fh->max_protocol();
  if (auto* caps = fh->capabilities())
    for (auto* c : *caps)
      h.capabilities.push_back(str_of(c));
  h.signature = bytes_of(fh->signature());
  h.listen = str_of(fh->listen());
  h.name = str_of(fh->name());
  if (h.min_protocol > h.max_protocol)
    return malformed("Hello has an empty protocol range");
  if (h.node_id.empty() || h.public_key.empty() || h.signature.empty())
    return malformed("Hello lacks node id, public key or signature");
  return h;
}

std::string encode_reject(const reject& r) {
  flatbuffers::FlatBufferBuilder fbb{128};
  auto reason = fbb.CreateString(r.reason);
  fbb.Finish(fb::CreateReject(fbb, reason, r.local_min, r.local_max, r.peer_min,
                              r.peer_max));
  return std::string{reinterpret_cast<const char*>(fbb.GetBufferPointer()),
                     fbb.GetSize()};
}

result<reject> decode_reject(std::string_view payload) {
  flatbuffers::Verifier verifier{
      reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
  if (!verifier.VerifyBuffer<fb::Reject>(nullptr))
    return malformed("Reject payload does not verify");
  auto* fr = flatbuffers::GetRoot<fb::Reject>(payload.data());
  return reject{str_of(fr->reason()), fr->local_min_protocol(),
                fr->local_max_protocol(), fr->peer_min_protocol(),
                fr->peer_max_protocol()};
}

std::optional<uint16_t> negotiate(uint16_t local_min, uint16_t local_max,
                                  uint16_t peer_min, uint16_t peer_max) {
  auto low = std::max(local_min, peer_min);
  auto high = std::min(local_max, peer_max);
  if (low > high)
    return std::nullopt;
  return high;
}

} // namespace mycelium::wire
