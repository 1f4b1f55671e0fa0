#include "mycelium/spores/tracker_core.hpp"

#include "mycelium/core/fnv.hpp"

#include <algorithm>

namespace mycelium::spores {

namespace {

int64_t slot_of(int64_t wall, int64_t slot_ms) {
  return wall >= 0 ? wall / slot_ms : -((-wall + slot_ms - 1) / slot_ms);
}

uint64_t fnv(const std::string& s) {
  fnv1a h;
  h.add_raw(s);
  return h.value();
}

tracker_event make_event(tracker_event::type what, const std::string& id,
                         const std::vector<std::string>& addresses) {
  tracker_event ev;
  ev.what = what;
  ev.node_id = id;
  ev.addresses = addresses;
  return ev;
}

} // namespace

const char* to_string(tracker_event::type t) {
  switch (t) {
  case tracker_event::type::learned:
    return "learned";
  case tracker_event::type::returned:
    return "returned";
  case tracker_event::type::section_rejoined:
    return "section_rejoined";
  }
  return "unknown";
}

tracker_core::tracker_core(tracker_config cfg, latent_spore self,
                           master_spore master, uint64_t seed, wall_ms wall)
    : cfg_(std::move(cfg)), self_id_(self.node_id), master_(std::move(master)),
      rng_(seed) {
  cfg_.slot_ms = std::max<int64_t>(1, cfg_.slot_ms);
  cfg_.buckets = std::max<uint32_t>(1, cfg_.buckets);
  self.pointer.stamp = clock_.now(wall);
  if (self.first_seen_ms == 0)
    self.first_seen_ms = wall;
  last_slot_ = slot_of(wall, cfg_.slot_ms);
  add_slot(self.activity, last_slot_);
  if (master_.stamp == hlc_stamp{})
    master_.stamp = clock_.now(wall);
  spores_[self_id_] = std::move(self);
}

void tracker_core::restore(const std::vector<latent_spore>& spores,
                           const std::optional<master_spore>& master) {
  // Our own pointer as the shell built it now must win over the stored
  // one: fold the stored stamps into the clock, then write it again.
  auto mine = spores_[self_id_].pointer;
  for (auto& s : spores) {
    clock_.observe(s.pointer.stamp, s.pointer.stamp.wall);
    clock_.observe(s.summary.stamp, s.summary.stamp.wall);
    auto [i, added] = spores_.try_emplace(s.node_id, s);
    if (!added)
      merge(i->second, s, cfg_.rules);
  }
  if (master) {
    clock_.observe(master->stamp, master->stamp.wall);
    merge(master_, *master, cfg_.rules);
  }
  // Until membership says otherwise, every node we remember is offline,
  // since the end of its last known activity (its return is then noticed).
  for (auto& [id, s] : spores_)
    if (id != self_id_ && !online_.count(id)) {
      auto last = s.last_active_slot();
      offline_.try_emplace(id, last ? (*last + 1) * cfg_.slot_ms : 0);
    }
  auto& self = spores_[self_id_];
  if (self.pointer.incarnation > mine.incarnation)
    mine.incarnation = self.pointer.incarnation;
  mine.stamp = clock_.now(clock_.last().wall);
  self.pointer = mine;
}

uint32_t tracker_core::bucket_of(const std::string& id) const {
  return static_cast<uint32_t>(fnv(id) % cfg_.buckets);
}

std::vector<uint64_t> tracker_core::bucket_hashes() const {
  std::vector<uint64_t> out(cfg_.buckets, 0);
  for (auto& [id, s] : spores_)
    out[bucket_of(id)] ^= digest(s);
  return out;
}

sync_message tracker_core::make_digest() const {
  sync_message m;
  m.kind = sync_message::type::digest;
  m.buckets = cfg_.buckets;
  m.hashes = bucket_hashes();
  m.master_digest = digest(master_);
  return m;
}

void tracker_core::send(const std::string& to, sync_message msg,
                        tracker_effects& fx) {
  bytes_sent_ += wire_size(msg);
  fx.sends.emplace_back(to, std::move(msg));
}

void tracker_core::changed(const std::string& id, tracker_effects& fx) {
  auto i = spores_.find(id);
  if (i == spores_.end())
    return;
  for (auto& p : fx.persist)
    if (p.node_id == id) {
      p = i->second;
      return;
    }
  fx.persist.push_back(i->second);
}

tracker_effects tracker_core::on_alive(const std::string& id,
                                       const std::string& name,
                                       const std::string& address,
                                       uint64_t incarnation, wall_ms wall) {
  tracker_effects fx;
  if (id == self_id_)
    return fx;
  auto [i, added] = spores_.try_emplace(id);
  auto& s = i->second;
  if (added) {
    s.node_id = id;
    s.pointer = {{address}, name, incarnation, {}};
    s.first_seen_ms = wall;
    fx.events.push_back(
        make_event(tracker_event::type::learned, id, {address}));
  } else if (incarnation > s.pointer.incarnation) {
    // Newer than anything the node wrote that reached us: an observer's
    // pointer (zero stamp) until the node's own arrives.
    s.pointer = {
        {address}, name.empty() ? s.pointer.name : name, incarnation, {}};
  }
  add_slot(s.activity, slot_of(wall, cfg_.slot_ms));
  changed(id, fx);
  if (auto off = offline_.find(id); off != offline_.end()) {
    pending_returns_[id] = {off->second, wall, wall + cfg_.return_decision_ms};
    offline_.erase(off);
    // Learn soon what it did while apart: the next exchange is due now and
    // goes to a returning node (one exchange per interval, also when a
    // whole section returns at once).
    next_sync_ = std::min(next_sync_, wall);
  }
  online_.try_emplace(id, wall);
  return fx;
}

tracker_effects tracker_core::on_gone(const std::string& id, wall_ms wall) {
  tracker_effects fx;
  if (id == self_id_ || online_.erase(id) == 0)
    return fx;
  offline_[id] = wall;
  pending_returns_.erase(id);
  return fx;
}

tracker_effects tracker_core::set_summary(uint64_t data_bytes,
                                          uint64_t processed_ops,
                                          wall_ms wall) {
  tracker_effects fx;
  auto& s = spores_[self_id_];
  if (s.summary.data_bytes == data_bytes &&
      s.summary.processed_ops == processed_ops)
    return fx;
  s.summary = {data_bytes, processed_ops, clock_.now(wall)};
  changed(self_id_, fx);
  return fx;
}

void tracker_core::absorb(const std::string& from,
                          const std::vector<latent_spore>& in,
                          const std::optional<master_spore>& master,
                          wall_ms wall, tracker_effects& fx) {
  (void)from;
  for (auto& s : in) {
    clock_.observe(s.pointer.stamp, wall);
    clock_.observe(s.summary.stamp, wall);
    auto [i, added] = spores_.try_emplace(s.node_id, s);
    if (added) {
      fx.events.push_back(make_event(tracker_event::type::learned, s.node_id,
                                     s.pointer.addresses));
      if (!online_.count(s.node_id) && s.node_id != self_id_)
        offline_.try_emplace(s.node_id,
                             s.last_active_slot()
                                 ? (*s.last_active_slot() + 1) * cfg_.slot_ms
                                 : 0);
      changed(s.node_id, fx);
    } else if (merge(i->second, s, cfg_.rules)) {
      changed(s.node_id, fx);
    }
  }
  if (master) {
    clock_.observe(master->stamp, wall);
    if (merge(master_, *master, cfg_.rules))
      fx.persist_master = master_;
  }
  // What a returning node did while apart may come through anyone, but
  // only a copy that shows activity while apart is news: a peer that lost
  // the node too still holds the copy from before the split.
  for (auto& s : in) {
    auto p = pending_returns_.find(s.node_id);
    if (p == pending_returns_.end())
      continue;
    auto lo = slot_of(p->second.apart_since, cfg_.slot_ms) + 1;
    auto hi = slot_of(p->second.back, cfg_.slot_ms) - 1;
    for (auto& r : s.activity)
      if (r.first <= hi && r.last >= lo)
        p->second.heard = true;
  }
}

tracker_effects
tracker_core::merge_full(const spore_set& in,
                         const std::optional<master_spore>& master,
                         wall_ms wall) {
  tracker_effects fx;
  std::vector<latent_spore> all;
  all.reserve(in.size());
  for (auto& [id, s] : in)
    all.push_back(s);
  absorb({}, all, master, wall, fx);
  return fx;
}

tracker_effects tracker_core::on_message(const std::string& from,
                                         const sync_message& msg,
                                         wall_ms wall) {
  tracker_effects fx;
  auto in_buckets = [&](const std::vector<uint32_t>& buckets) {
    std::vector<const latent_spore*> out;
    std::vector<bool> want(cfg_.buckets, false);
    for (auto b : buckets)
      if (b < cfg_.buckets)
        want[b] = true;
    for (auto& [id, s] : spores_)
      if (want[bucket_of(id)])
        out.push_back(&s);
    return out;
  };
  switch (msg.kind) {
  case sync_message::type::digest: {
    sync_message reply;
    reply.kind = sync_message::type::reply;
    reply.buckets = cfg_.buckets;
    auto ours = bucket_hashes();
    for (uint32_t b = 0; b < cfg_.buckets; ++b)
      if (msg.buckets != cfg_.buckets || b >= msg.hashes.size() ||
          msg.hashes[b] != ours[b])
        reply.differing.push_back(b);
    for (auto* s : in_buckets(reply.differing))
      reply.spores.push_back(*s);
    if (msg.master_digest != digest(master_))
      reply.master = master_;
    send(from, std::move(reply), fx);
    break;
  }
  case sync_message::type::reply: {
    absorb(from, msg.spores, msg.master, wall, fx);
    std::map<std::string, const latent_spore*> theirs;
    for (auto& s : msg.spores)
      theirs[s.node_id] = &s;
    sync_message push;
    push.kind = sync_message::type::push;
    push.buckets = cfg_.buckets;
    for (auto* s : in_buckets(msg.differing)) {
      auto t = theirs.find(s->node_id);
      if (t == theirs.end() || *t->second != *s)
        push.spores.push_back(*s);
    }
    if (msg.master && !(*msg.master == master_))
      push.master = master_;
    if (!push.spores.empty() || push.master)
      send(from, std::move(push), fx);
    decide_returns(from, wall, false, fx);
    break;
  }
  case sync_message::type::push:
    absorb(from, msg.spores, msg.master, wall, fx);
    decide_returns(from, wall, false, fx);
    break;
  }
  return fx;
}

tracker_core::section& tracker_core::open_section(wall_ms wall) {
  if (!section_) {
    section_ = section{};
    section_->deadline = wall + 2 * cfg_.sync_interval_ms;
  }
  return *section_;
}

void tracker_core::decide_returns(const std::string& peer, wall_ms wall,
                                  bool force, tracker_effects& fx) {
  for (auto i = pending_returns_.begin(); i != pending_returns_.end();) {
    auto& [id, when] = *i;
    if (id != peer && !when.heard && !(force && wall >= when.deadline)) {
      ++i;
      continue;
    }
    auto apart_since = when.apart_since;
    auto decision =
        decide_rejoin(spores_[id].activity, spores_[self_id_].activity,
                      slot_of(apart_since, cfg_.slot_ms) + 1,
                      slot_of(when.back, cfg_.slot_ms));
    auto ev = make_event(tracker_event::type::returned, id,
                         spores_[id].pointer.addresses);
    ev.decision = decision;
    ev.apart_since_ms = apart_since;
    fx.events.push_back(ev);
    auto& sec = open_section(wall);
    sec.apart_since = sec.apart_since == 0
                          ? apart_since
                          : std::min(sec.apart_since, apart_since);
    sec.nodes.insert(id);
    if (decision == rejoin::sync_required)
      sec.decision = rejoin::sync_required;
    i = pending_returns_.erase(i);
  }
}

tracker_effects tracker_core::on_tick(wall_ms wall) {
  tracker_effects fx;
  auto slot = slot_of(wall, cfg_.slot_ms);
  if (slot != last_slot_) {
    last_slot_ = slot;
    if (add_slot(spores_[self_id_].activity, slot))
      changed(self_id_, fx);
    for (auto& [id, since] : online_)
      if (add_slot(spores_[id].activity, slot))
        changed(id, fx);
    // Retention: forget nodes silent for longer than configured.
    auto horizon = slot_of(wall - cfg_.retention_ms, cfg_.slot_ms);
    for (auto i = spores_.begin(); i != spores_.end();) {
      auto last = i->second.last_active_slot();
      if (i->first != self_id_ && !online_.count(i->first) && last &&
          *last < horizon) {
        fx.forget.push_back(i->first);
        offline_.erase(i->first);
        i = spores_.erase(i);
      } else {
        ++i;
      }
    }
  }
  decide_returns({}, wall, true, fx);
  if (section_ && wall >= section_->deadline) {
    if (section_->nodes.size() >= 2) {
      tracker_event ev;
      ev.what = tracker_event::type::section_rejoined;
      ev.decision = section_->decision;
      ev.apart_since_ms = section_->apart_since;
      ev.nodes.assign(section_->nodes.begin(), section_->nodes.end());
      // What either side gained (first met) and lost (went offline)
      // while apart, now that both sides' spores are merged.
      auto apart_slot = slot_of(section_->apart_since, cfg_.slot_ms) + 1;
      for (auto& [id, s] : spores_) {
        if (s.first_seen_ms >= section_->apart_since)
          ev.gained.push_back(id);
        auto last = s.last_active_slot();
        if (id != self_id_ && !online_.count(id) && last && *last >= apart_slot)
          ev.lost.push_back(id);
      }
      fx.events.push_back(std::move(ev));
    }
    section_.reset();
  }
  if (wall >= next_sync_ && !online_.empty()) {
    next_sync_ = wall + cfg_.sync_interval_ms;
    // A node that came back and is still undecided first, else anyone.
    std::vector<const std::string*> returning;
    for (auto& [id, r] : pending_returns_)
      if (online_.count(id))
        returning.push_back(&id);
    if (!returning.empty()) {
      send(*returning[rng_.next_below(returning.size())], make_digest(), fx);
    } else {
      auto it = online_.begin();
      std::advance(it, static_cast<long>(rng_.next_below(online_.size())));
      send(it->first, make_digest(), fx);
    }
  }
  return fx;
}

std::vector<spore_view> tracker_core::view() const {
  std::vector<spore_view> out;
  for (auto& [id, s] : spores_)
    out.push_back(*view(id));
  return out;
}

std::optional<spore_view> tracker_core::view(const std::string& id) const {
  auto i = spores_.find(id);
  if (i == spores_.end())
    return std::nullopt;
  spore_view v;
  v.spore = &i->second;
  if (id == self_id_) {
    v.online = true;
    v.since_ms = i->second.activity.empty()
                     ? 0
                     : i->second.activity.back().first * cfg_.slot_ms;
  } else if (auto on = online_.find(id); on != online_.end()) {
    v.online = true;
    v.since_ms = on->second;
  } else if (auto off = offline_.find(id); off != offline_.end()) {
    v.since_ms = off->second;
  } else if (auto last = i->second.last_active_slot()) {
    v.since_ms = (*last + 1) * cfg_.slot_ms;
  }
  return v;
}

} // namespace mycelium::spores
