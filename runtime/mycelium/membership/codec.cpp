#include "mycelium/membership/codec.hpp"

#include "mycelium/wire/fb_util.hpp"

#include "membership_generated.h"

namespace mycelium::membership {

namespace {

error malformed(std::string what) {
  return error{"membership", 1, std::move(what)};
}

} // namespace

std::string encode(const message& msg) {
  flatbuffers::FlatBufferBuilder fbb{128 + msg.updates.size() * 64};
  std::vector<flatbuffers::Offset<fb::Update>> updates;
  updates.reserve(msg.updates.size());
  for (auto& u : msg.updates)
    updates.push_back(fb::CreateUpdate(
        fbb, fbb.CreateString(u.id), fbb.CreateString(u.address),
        fbb.CreateString(u.name), u.incarnation, static_cast<uint8_t>(u.st),
        u.accuser.empty() ? 0 : fbb.CreateString(u.accuser)));
  auto target = fbb.CreateString(msg.target);
  auto target_address = fbb.CreateString(msg.target_address);
  auto vec = fbb.CreateVector(updates);
  fbb.Finish(fb::CreateMessage(fbb, static_cast<uint8_t>(msg.kind), msg.seq,
                               target, target_address, vec));
  return std::string{reinterpret_cast<const char*>(fbb.GetBufferPointer()),
                     fbb.GetSize()};
}

result<message> decode(std::string_view payload) {
  flatbuffers::Verifier verifier{
      reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
  if (!verifier.VerifyBuffer<fb::Message>(nullptr))
    return malformed("membership message does not verify");
  auto* m = flatbuffers::GetRoot<fb::Message>(payload.data());
  if (m->kind() > static_cast<uint8_t>(message::type::push_pull_reply))
    return malformed("unknown membership message kind " +
                     std::to_string(m->kind()));
  message out;
  out.kind = static_cast<message::type>(m->kind());
  out.seq = m->seq();
  out.target = wire::fb_str(m->target());
  out.target_address = wire::fb_str(m->target_address());
  if (auto* us = m->updates()) {
    out.updates.reserve(us->size());
    for (auto* u : *us) {
      if (u->state() > static_cast<uint8_t>(state::left))
        return malformed("unknown member state " + std::to_string(u->state()));
      out.updates.push_back({wire::fb_str(u->id()), wire::fb_str(u->address()),
                             wire::fb_str(u->name()), u->incarnation(),
                             static_cast<state>(u->state()),
                             wire::fb_str(u->accuser())});
      if (out.updates.back().id.empty())
        return malformed("update without a member id");
    }
  }
  return out;
}

} // namespace mycelium::membership
