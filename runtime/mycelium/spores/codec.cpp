#include "mycelium/spores/codec.hpp"

#include "mycelium/wire/fb_util.hpp"

#include "spores_generated.h"

namespace mycelium::spores {

namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

error malformed(std::string what) {
  return error{"spores", 1, std::move(what)};
}

fb::Stamp to_fb(const hlc_stamp& s) {
  return fb::Stamp{s.wall, s.logical};
}

hlc_stamp from_fb(const fb::Stamp* s) {
  return s == nullptr ? hlc_stamp{} : hlc_stamp{s->wall(), s->logical()};
}

Offset<flatbuffers::Vector<Offset<flatbuffers::String>>>
strings(FlatBufferBuilder& fbb, const std::vector<std::string>& v) {
  return fbb.CreateVectorOfStrings(v);
}

std::vector<std::string>
strings(const flatbuffers::Vector<Offset<flatbuffers::String>>* v) {
  std::vector<std::string> out;
  if (v != nullptr)
    for (auto* s : *v)
      out.push_back(wire::fb_str(s));
  return out;
}

Offset<fb::Spore> build(FlatBufferBuilder& fbb, const latent_spore& s) {
  std::vector<fb::Range> ranges;
  for (auto& r : s.activity)
    ranges.emplace_back(r.first, r.last);
  auto id = fbb.CreateString(s.node_id);
  auto addresses = strings(fbb, s.pointer.addresses);
  auto name = fbb.CreateString(s.pointer.name);
  auto activity = fbb.CreateVectorOfStructs(ranges);
  auto pointer_stamp = to_fb(s.pointer.stamp);
  auto summary_stamp = to_fb(s.summary.stamp);
  return fb::CreateSpore(fbb, id, addresses, name, s.pointer.incarnation,
                         &pointer_stamp, s.first_seen_ms, activity,
                         s.summary.data_bytes, s.summary.processed_ops,
                         &summary_stamp);
}

Offset<fb::Master> build(FlatBufferBuilder& fbb, const master_spore& m) {
  auto network = fbb.CreateString(m.network_id);
  auto seeds = strings(fbb, m.seeds);
  auto digest = fbb.CreateString(m.settings_digest);
  auto stamp = to_fb(m.stamp);
  return fb::CreateMaster(fbb, network, m.protocol_min, m.protocol_max, seeds,
                          m.epoch, digest, &stamp);
}

result<latent_spore> read(const fb::Spore* f) {
  latent_spore s;
  s.node_id = wire::fb_str(f->node_id());
  if (s.node_id.empty())
    return malformed("spore without a node id");
  s.pointer.addresses = strings(f->addresses());
  s.pointer.name = wire::fb_str(f->name());
  s.pointer.incarnation = f->incarnation();
  s.pointer.stamp = from_fb(f->pointer_stamp());
  s.first_seen_ms = f->first_seen_ms();
  if (auto* a = f->activity()) {
    for (auto* r : *a) {
      if (r->last() < r->first())
        return malformed("spore of " + s.node_id +
                         " has an activity range that ends before it starts");
      s.activity.push_back({r->first(), r->last()});
    }
    // Canonical form only: what we store and merge must be normalised.
    if (!(normalise(s.activity) == s.activity))
      return malformed("spore of " + s.node_id +
                       " has unsorted or overlapping activity ranges");
  }
  s.summary.data_bytes = f->data_bytes();
  s.summary.processed_ops = f->processed_ops();
  s.summary.stamp = from_fb(f->summary_stamp());
  return s;
}

master_spore read(const fb::Master* f) {
  master_spore m;
  m.network_id = wire::fb_str(f->network_id());
  m.protocol_min = f->protocol_min();
  m.protocol_max = f->protocol_max();
  m.seeds = strings(f->seeds());
  m.epoch = f->epoch();
  m.settings_digest = wire::fb_str(f->settings_digest());
  m.stamp = from_fb(f->stamp());
  return m;
}

} // namespace

std::string encode(const sync_message& msg) {
  FlatBufferBuilder fbb{256};
  std::vector<Offset<fb::Spore>> spores;
  for (auto& s : msg.spores)
    spores.push_back(build(fbb, s));
  auto hashes = fbb.CreateVector(msg.hashes);
  auto differing = fbb.CreateVector(msg.differing);
  auto vec = fbb.CreateVector(spores);
  Offset<fb::Master> master;
  if (msg.master)
    master = build(fbb, *msg.master);
  fbb.Finish(fb::CreateSyncMessage(fbb, static_cast<uint8_t>(msg.kind),
                                   msg.buckets, hashes, msg.master_digest,
                                   differing, vec, master));
  return wire::fb_bytes(fbb);
}

result<sync_message> decode(std::string_view payload) {
  auto* m = wire::verified_root<fb::SyncMessage>(payload);
  if (m == nullptr)
    return malformed("spore sync message does not verify");
  if (m->kind() > static_cast<uint8_t>(sync_message::type::push))
    return malformed("unknown spore sync message kind " +
                     std::to_string(m->kind()));
  sync_message out;
  out.kind = static_cast<sync_message::type>(m->kind());
  out.buckets = m->buckets();
  if (out.buckets > 65536)
    return malformed("spore sync digest with " + std::to_string(out.buckets) +
                     " buckets (at most 65536)");
  if (auto* h = m->hashes())
    out.hashes.assign(h->begin(), h->end());
  out.master_digest = m->master_digest();
  if (auto* d = m->differing())
    out.differing.assign(d->begin(), d->end());
  if (auto* ss = m->spores())
    for (auto* s : *ss) {
      auto spore = read(s);
      if (!spore)
        return spore.err();
      out.spores.push_back(std::move(*spore));
    }
  if (m->master() != nullptr)
    out.master = read(m->master());
  return out;
}

std::string encode_spore(const latent_spore& s) {
  FlatBufferBuilder fbb{256};
  fbb.Finish(build(fbb, s));
  return wire::fb_bytes(fbb);
}

result<latent_spore> decode_spore(std::string_view bytes) {
  auto* f = wire::verified_root<fb::Spore>(bytes);
  if (f == nullptr)
    return malformed("stored spore does not verify");
  return read(f);
}

std::string encode_master(const master_spore& m) {
  FlatBufferBuilder fbb{256};
  fbb.Finish(build(fbb, m));
  return wire::fb_bytes(fbb);
}

result<master_spore> decode_master(std::string_view bytes) {
  auto* f = wire::verified_root<fb::Master>(bytes);
  if (f == nullptr)
    return malformed("stored master spore does not verify");
  return read(f);
}

size_t wire_size(const sync_message& msg) {
  return encode(msg).size();
}

} // namespace mycelium::spores
