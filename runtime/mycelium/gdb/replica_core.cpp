#include "mycelium/gdb/replica_core.hpp"

namespace mycelium::gdb {

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
  auto delta = db_.put(key, value, kind, now);
  if (!delta)
    return delta.err();
  return ship(key, *delta);
}

result<replica_effects> replica_core::del(const std::string& key) {
  auto delta = db_.del(key);
  if (!delta)
    return delta.err();
  return ship(key, *delta);
}

replica_effects replica_core::on_message(const std::string& from,
                                         const sync_message& msg, wall_ms now) {
  replica_effects fx;
  for (auto& [k, e] : msg.entries)
    fx.persist.insert(k);
  if (!fx.persist.empty())
    reconciled_[from] = now;
  for (auto& answer : on_sync(db_.map(), msg))
    fx.sends.emplace_back(from, std::move(answer));
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
