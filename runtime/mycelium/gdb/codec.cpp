#include "mycelium/gdb/codec.hpp"

#include "mycelium/wire/fb_util.hpp"

#include "gdb_generated.h"

namespace mycelium::gdb {

namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using flatbuffers::Vector;

error malformed(std::string what) {
  return error{"gdb", 1, std::move(what)};
}

Offset<fb::Dot> build(FlatBufferBuilder& b, const dot& d) {
  return fb::CreateDot(b, b.CreateString(d.replica), d.counter);
}

Offset<Vector<Offset<fb::Dot>>> build(FlatBufferBuilder& b,
                                      const std::set<dot>& ds) {
  std::vector<Offset<fb::Dot>> v;
  for (auto& d : ds)
    v.push_back(build(b, d));
  return b.CreateVector(v);
}

Offset<fb::Context> build(FlatBufferBuilder& b, const causal_context& c) {
  std::vector<Offset<fb::Part>> vv;
  for (auto& [r, n] : c.vector())
    vv.push_back(fb::CreatePart(b, b.CreateString(r), n, 0));
  auto vvo = b.CreateVector(vv);
  auto cloud = build(b, c.cloud());
  return fb::CreateContext(b, vvo, cloud);
}

Offset<fb::Value> build(FlatBufferBuilder& b, const crdt_value& v) {
  auto lww_value = b.CreateString(v.lww.value);
  auto lww_writer = b.CreateString(v.lww.writer);
  std::vector<Offset<fb::DotValue>> mv;
  for (auto& [d, s] : v.mv.values) {
    auto dd = build(b, d);
    mv.push_back(fb::CreateDotValue(b, dd, b.CreateString(s)));
  }
  auto mvo = b.CreateVector(mv);
  auto mvc = build(b, v.mv.context);
  std::vector<Offset<fb::Part>> parts;
  for (auto& [r, pn] : v.counter.parts)
    parts.push_back(fb::CreatePart(b, b.CreateString(r), pn.first, pn.second));
  auto po = b.CreateVector(parts);
  std::vector<Offset<fb::SetEntry>> set;
  for (auto& [e, ds] : v.set.entries) {
    auto dso = build(b, ds);
    set.push_back(fb::CreateSetEntry(b, b.CreateString(e), dso));
  }
  auto so = b.CreateVector(set);
  auto sc = build(b, v.set.context);
  return fb::CreateValue(b, static_cast<uint8_t>(v.kind), lww_value,
                         v.lww.stamp.wall, v.lww.stamp.logical, lww_writer,
                         v.lww.set, mvo, mvc, po, so, sc);
}

Offset<fb::Entry> build(FlatBufferBuilder& b, const std::string& key,
                        const or_map::entry& e) {
  auto k = b.CreateString(key);
  auto p = build(b, e.presence);
  auto r = build(b, e.removed);
  auto v = build(b, e.value);
  return fb::CreateEntry(b, k, p, r, v);
}

result<dot> read(const fb::Dot* d) {
  if (d == nullptr || d->replica() == nullptr || d->replica()->size() == 0 ||
      d->counter() == 0)
    return malformed("dot without a replica or with counter 0");
  return dot{d->replica()->str(), d->counter()};
}

status read(const Vector<Offset<fb::Dot>>* v, std::set<dot>& out) {
  if (v == nullptr)
    return ok();
  for (auto* d : *v) {
    auto x = read(d);
    if (!x)
      return x.err();
    out.insert(*x);
  }
  return ok();
}

status read(const fb::Context* c, causal_context& out) {
  if (c == nullptr)
    return ok();
  if (auto* vv = c->vector())
    for (auto* p : *vv) {
      if (p->replica() == nullptr || p->replica()->size() == 0)
        return malformed("version vector entry without a replica");
      out.merge_vector_entry(p->replica()->str(), p->p());
    }
  std::set<dot> cloud;
  if (auto st = read(c->cloud(), cloud); !st)
    return st;
  for (auto& d : cloud)
    out.add(d);
  return ok();
}

result<crdt_value> read(const fb::Value* f) {
  crdt_value v;
  if (f == nullptr)
    return v;
  if (f->kind() > static_cast<uint8_t>(crdt_value::type::set))
    return malformed("unknown value type " + std::to_string(f->kind()));
  v.kind = static_cast<crdt_value::type>(f->kind());
  v.lww.value = wire::fb_str(f->lww_value());
  v.lww.stamp = {f->lww_wall(), f->lww_logical()};
  v.lww.writer = wire::fb_str(f->lww_writer());
  v.lww.set = f->lww_set();
  if (auto* mv = f->mv_values())
    for (auto* dv : *mv) {
      auto d = read(dv->dot());
      if (!d)
        return d.err();
      v.mv.values.emplace(*d, wire::fb_str(dv->value()));
    }
  if (auto st = read(f->mv_context(), v.mv.context); !st)
    return st.err();
  if (auto* parts = f->counter())
    for (auto* p : *parts) {
      if (p->replica() == nullptr || p->replica()->size() == 0)
        return malformed("counter part without a replica");
      v.counter.parts[p->replica()->str()] = {p->p(), p->n()};
    }
  if (auto* set = f->set_entries())
    for (auto* e : *set) {
      std::set<dot> ds;
      if (auto st = read(e->dots(), ds); !st)
        return st.err();
      if (ds.empty())
        return malformed("set element without dots");
      v.set.entries[wire::fb_str(e->element())] = std::move(ds);
    }
  if (auto st = read(f->set_context(), v.set.context); !st)
    return st.err();
  return v;
}

result<std::pair<std::string, or_map::entry>> read(const fb::Entry* f) {
  std::pair<std::string, or_map::entry> out;
  out.first = wire::fb_str(f->key());
  if (out.first.empty())
    return malformed("entry without a key");
  if (auto st = read(f->presence(), out.second.presence); !st)
    return st.err();
  if (auto st = read(f->removed(), out.second.removed); !st)
    return st.err();
  auto v = read(f->value());
  if (!v)
    return v.err();
  out.second.value = std::move(*v);
  return out;
}

} // namespace

std::string encode_entry(const std::string& key, const or_map::entry& e) {
  FlatBufferBuilder b{256};
  b.Finish(build(b, key, e));
  return wire::fb_bytes(b);
}

result<std::pair<std::string, or_map::entry>>
decode_entry(std::string_view bytes) {
  auto* f = wire::verified_root<fb::Entry>(bytes);
  if (f == nullptr)
    return malformed("stored entry does not verify");
  return read(f);
}

std::string encode(const sync_message& msg) {
  FlatBufferBuilder b{1024};
  std::vector<Offset<fb::Node>> nodes;
  for (auto& n : msg.nodes)
    nodes.push_back(
        fb::CreateNode(b, b.CreateVector(n.path), b.CreateVector(n.hashes)));
  auto no = b.CreateVector(nodes);
  std::vector<Offset<fb::Entry>> entries;
  for (auto& [k, e] : msg.entries)
    entries.push_back(build(b, k, e));
  auto eo = b.CreateVector(entries);
  b.Finish(fb::CreateSyncMessage(b, static_cast<uint8_t>(msg.kind), no, eo));
  return wire::fb_bytes(b);
}

result<sync_message> decode(std::string_view bytes) {
  auto* f = wire::verified_root<fb::SyncMessage>(bytes);
  if (f == nullptr)
    return malformed("gdb sync message does not verify");
  if (f->kind() > static_cast<uint8_t>(sync_message::type::entries_final))
    return malformed("unknown gdb sync message kind " +
                     std::to_string(f->kind()));
  sync_message m;
  m.kind = static_cast<sync_message::type>(f->kind());
  if (auto* ns = f->nodes())
    for (auto* n : *ns) {
      merkle_node node;
      if (n->path() != nullptr)
        node.path.assign(n->path()->begin(), n->path()->end());
      if (n->hashes() != nullptr)
        node.hashes.assign(n->hashes()->begin(), n->hashes()->end());
      m.nodes.push_back(std::move(node));
    }
  if (auto* es = f->entries())
    for (auto* e : *es) {
      auto x = read(e);
      if (!x)
        return x.err();
      m.entries.push_back(std::move(*x));
    }
  return m;
}

} // namespace mycelium::gdb
