#include "mycelium/gdb/replica_core.hpp"

#include "mycelium/gdb/codec.hpp"

namespace mycelium::gdb {

std::optional<or_map::entry>
replica_core::snapshot(const std::string& key) const {
  auto& entries = db_.map().entries;
  auto i = entries.find(key);
  if (i == entries.end())
    return std::nullopt;
  return i->second;
}

void replica_core::encode_rows(replica_effects& fx) const {
  auto& entries = db_.map().entries;
  for (auto& k : fx.persist)
    if (auto i = entries.find(k); i != entries.end())
      fx.rows.emplace_back(k, encode_entry(k, i->second));
}

void replica_core::abort(const replica_effects& fx) {
  auto& entries = db_.map().entries;
  for (auto& [k, before] : fx.undo) {
    if (before)
      entries[k] = *before;
    else
      entries.erase(k);
  }
}

replica_effects replica_core::ship(const std::string& key,
                                   const or_map& delta) {
  replica_effects fx;
  fx.persist.insert(key);
  sync_message msg;
  msg.kind = sync_message::type::entries_final;
  for (auto& [k, e] : delta.entries)
    msg.entries.emplace_back(k, e);
  for (auto& [id, p] : peers_)
    fx.sends.emplace_back(id, msg);
  return fx;
}

result<replica_effects> replica_core::put(const std::string& key,
                                          const std::string& value,
                                          crdt_value::type kind, wall_ms now) {
  auto before = snapshot(key);
  auto delta = db_.put(key, value, kind, now);
  if (!delta)
    return delta.err();
  auto fx = ship(key, *delta);
  fx.undo[key] = std::move(before);
  encode_rows(fx);
  return fx;
}

result<replica_effects> replica_core::del(const std::string& key) {
  auto before = snapshot(key);
  auto delta = db_.del(key);
  if (!delta)
    return delta.err();
  auto fx = ship(key, *delta);
  fx.undo[key] = std::move(before);
  encode_rows(fx);
  return fx;
}

replica_effects replica_core::on_message(const std::string& from,
                                         const sync_message& msg, wall_ms now) {
  replica_effects fx;
  for (auto& [k, e] : msg.entries)
    if (fx.persist.insert(k).second)
      fx.undo[k] = snapshot(k);
  if (!fx.persist.empty())
    reconciled_[from] = now;
  for (auto& answer : on_sync(db_.map(), msg))
    fx.sends.emplace_back(from, std::move(answer));
  encode_rows(fx);
  return fx;
}

replica_effects replica_core::on_tick(wall_ms now) {
  if (peers_.empty())
    return {};
  auto it = peers_.begin();
  std::advance(it, static_cast<long>(rng_.next_below(peers_.size())));
  return sync_with(it->first, now);
}

replica_effects replica_core::sync_with(const std::string& peer, wall_ms now) {
  replica_effects fx;
  reconciled_[peer] = now;
  fx.sends.emplace_back(peer, start_sync(db_.map()));
  return fx;
}

void replica_core::peer_up(const std::string& id, const std::string& name) {
  peers_[id].name = name;
}

void replica_core::peer_down(const std::string& id) {
  peers_.erase(id);
}

} // namespace mycelium::gdb
