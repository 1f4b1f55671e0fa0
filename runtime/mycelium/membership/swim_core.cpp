#include "mycelium/membership/swim_core.hpp"

#include <algorithm>
#include <cmath>

namespace mycelium::membership {

const char* to_string(state s) {
  switch (s) {
  case state::alive:
    return "alive";
  case state::suspect:
    return "suspect";
  case state::failed:
    return "failed";
  case state::left:
    return "left";
  }
  return "unknown";
}

const char* to_string(event::type t) {
  switch (t) {
  case event::type::joined:
    return "joined";
  case event::type::suspect:
    return "suspect";
  case event::type::failed:
    return "failed";
  case event::type::left:
    return "left";
  case event::type::recovered:
    return "recovered";
  case event::type::address_changed:
    return "address_changed";
  }
  return "unknown";
}

namespace {

int rank(state s) {
  return static_cast<int>(s);
}

/// True when `n` is newer information than `cur` (see the header).
bool overrides(const update& n, const update& cur) {
  return n.incarnation > cur.incarnation ||
         (n.incarnation == cur.incarnation && rank(n.st) > rank(cur.st));
}

} // namespace

struct swim_core::member_state {
  update info;
  time_point since{};
  time_point last_heard{};
  /// Suspicion: when it started and who confirmed it (Lifeguard).
  time_point suspect_start{};
  std::set<std::string> confirmations;
};

struct swim_core::probe {
  std::string target;
  uint32_t seq = 0;
  time_point sent{};
  time_point deadline{};
  bool indirect_sent = false;
  int64_t expected_nacks = 0;
  int64_t nacks = 0;
};

struct swim_core::relay {
  std::string requester;
  uint32_t requester_seq = 0;
  time_point deadline{};
};

swim_core::swim_core(membership_config cfg, update self, uint64_t seed,
                     bool lifeguard)
    : cfg_(cfg), self_(std::move(self)), rng_(seed), lifeguard_(lifeguard) {
  self_.st = state::alive;
  broadcast(self_); // announce ourselves on every message we send
}

swim_core::swim_core(swim_core&&) noexcept = default;
swim_core& swim_core::operator=(swim_core&&) noexcept = default;
swim_core::~swim_core() = default;

namespace {

bool is_live(state s) {
  return s == state::alive || s == state::suspect;
}

} // namespace

size_t swim_core::alive_count() const {
  return live_;
}

size_t swim_core::count(state st) const {
  size_t n = 0;
  for (auto& [id, m] : members_)
    n += m.info.st == st;
  return n;
}

duration swim_core::probe_interval() const {
  return from_ms(cfg_.probe_interval_ms * (lifeguard_ ? score_ + 1 : 1));
}

duration swim_core::probe_timeout() const {
  return from_ms(cfg_.probe_timeout_ms * (lifeguard_ ? score_ + 1 : 1));
}

void swim_core::adjust_score(int64_t delta) {
  if (!lifeguard_)
    return;
  score_ = std::clamp<int64_t>(score_ + delta, 0, cfg_.awareness_max);
}

duration swim_core::suspicion_timeout(const member_state& m) const {
  auto n = static_cast<double>(alive_count() + 1);
  auto min = cfg_.suspicion_alpha * std::max(1.0, std::log10(n)) *
             static_cast<double>(cfg_.probe_interval_ms);
  if (!lifeguard_)
    return from_ms(static_cast<int64_t>(min));
  auto max = cfg_.suspicion_beta * min;
  // Confirmations beyond the first accuser shrink the timeout (log scale).
  auto c = static_cast<double>(
      m.confirmations.size() > 0 ? m.confirmations.size() - 1 : 0);
  // No more confirmations can come than there are observers: n members
  // live (self and the suspect included) leave n - 2 besides the suspect
  // and the first accuser. At least one is always awaited: a lone accuser
  // that knows almost nobody (a node still joining) waits the maximum.
  auto k = std::max(
      1.0, std::min(static_cast<double>(cfg_.suspicion_confirmations), n - 2));
  auto frac = std::min(1.0, std::log(c + 1) / std::log(k + 1));
  auto t = std::max(min, max - (max - min) * frac);
  return from_ms(static_cast<int64_t>(t));
}

void swim_core::broadcast(const update& u) {
  auto [i, added] = broadcasts_.try_emplace(u.id);
  if (!added)
    unlink(&*i);
  i->second.u = u;
  i->second.sent = 0;
  link(&*i);
}

void swim_core::link(pending_entry* e) {
  auto k = static_cast<size_t>(e->second.sent);
  if (by_count_.size() <= k)
    by_count_.resize(k + 1);
  auto& list = by_count_[k];
  e->second.prev = list.tail;
  e->second.next = nullptr;
  (list.tail != nullptr ? list.tail->second.next : list.head) = e;
  list.tail = e;
}

void swim_core::unlink(pending_entry* e) {
  auto& list = by_count_[static_cast<size_t>(e->second.sent)];
  auto& p = e->second;
  (p.prev != nullptr ? p.prev->second.next : list.head) = p.next;
  (p.next != nullptr ? p.next->second.prev : list.tail) = p.prev;
  p.prev = p.next = nullptr;
}

void swim_core::send(const std::string& to, message msg, effects& fx,
                     const std::string& lead) {
  if (msg.kind != message::type::push_pull &&
      msg.kind != message::type::push_pull_reply) {
    auto n = static_cast<double>(alive_count() + 2);
    auto limit =
        cfg_.retransmit_mult * static_cast<int64_t>(std::ceil(std::log10(n)));
    auto max = static_cast<size_t>(cfg_.max_piggyback);
    // Least-sent first; the update about the receiver leads (Lifeguard:
    // a suspected node hears of it at once and refutes).
    auto& picked = picked_; // reused: one allocation, not one per message
    picked.clear();
    if (!lead.empty())
      if (auto i = broadcasts_.find(lead); i != broadcasts_.end())
        picked.push_back(&*i);
    for (auto& list : by_count_)
      for (auto* e = list.head; e != nullptr && picked.size() < max;
           e = e->second.next)
        if (picked.empty() || e != picked.front())
          picked.push_back(e);
    msg.updates.reserve(msg.updates.size() + picked.size());
    for (auto* e : picked) {
      msg.updates.push_back(e->second.u);
      unlink(e);
      if (++e->second.sent >= limit)
        broadcasts_.erase(broadcasts_.find(e->first)); // key dies with it
      else
        link(e);
    }
  }
  std::string address;
  if (auto i = members_.find(to); i != members_.end())
    address = i->second.info.address;
  if (address.empty())
    address = msg.target_address;
  ++sent_;
  fx.sends.push_back({to, address, std::move(msg)});
}

std::vector<std::string>
swim_core::random_members(size_t k, const std::set<std::string>& skip,
                          bool alive_only) {
  // Sampling by index keeps this O(k) on big tables; when few members
  // qualify, fall back to a full scan so none is missed.
  std::vector<std::string> out;
  auto fits = [&](const member_entry* e) {
    if (skip.count(e->first) != 0 ||
        std::find(out.begin(), out.end(), e->first) != out.end())
      return false;
    auto st = e->second.info.st;
    return st == state::alive || (!alive_only && st == state::suspect);
  };
  if (index_.size() > 4 * (k + skip.size()) + 16) {
    for (size_t tries = 0; tries < 4 * k + 8 && out.size() < k; ++tries) {
      auto* e = index_[rng_.next_below(index_.size())];
      if (fits(e))
        out.push_back(e->first);
    }
    if (out.size() == k)
      return out;
  }
  std::vector<member_entry*> pool;
  for (auto* e : index_)
    if (fits(e))
      pool.push_back(e);
  for (size_t i = 0; i < pool.size() && out.size() < k; ++i) {
    auto j = i + rng_.next_below(pool.size() - i);
    std::swap(pool[i], pool[j]);
    out.push_back(pool[i]->first);
  }
  return out;
}

std::vector<update> swim_core::full_state() const {
  std::vector<update> out{self_};
  for (auto& [id, m] : members_)
    out.push_back(m.info);
  return out;
}

void swim_core::refute(uint64_t seen, effects& fx) {
  self_.incarnation = std::max(self_.incarnation, seen) + 1;
  self_.st = state::alive;
  fx.persist_incarnation = self_.incarnation;
  broadcast(self_);
  adjust_score(1);
}

void swim_core::set_state(member_state& m, const update& u, time_point now,
                          effects& fx) {
  auto prev = m.info.st;
  auto prev_address = m.info.address;
  auto address = u.address.empty() ? m.info.address : u.address;
  auto name = u.name.empty() ? m.info.name : u.name;
  m.info = u;
  m.info.address = address;
  m.info.name = name;
  if (prev != u.st)
    m.since = now;
  live_ = live_ - (is_live(prev) ? 1 : 0) + (is_live(u.st) ? 1 : 0);
  if (u.st == state::suspect)
    suspects_.insert(u.id);
  else
    suspects_.erase(u.id);
  if (!prev_address.empty() && prev_address != address)
    fx.events.push_back({event::type::address_changed, m.info});
  if (prev == u.st)
    return;
  switch (u.st) {
  case state::alive:
    fx.events.push_back(
        {prev == state::left ? event::type::joined : event::type::recovered,
         m.info});
    break;
  case state::suspect:
    m.suspect_start = now;
    m.confirmations.clear();
    fx.events.push_back({event::type::suspect, m.info});
    break;
  case state::failed:
    fx.events.push_back({event::type::failed, m.info});
    break;
  case state::left:
    fx.events.push_back({event::type::left, m.info});
    break;
  }
}

void swim_core::apply(const update& u, const std::string& from, time_point now,
                      effects& fx) {
  if (u.id == self_.id) {
    if (left_)
      return;
    // Others believe we are suspect, failed or gone, or know a newer
    // incarnation of us (a previous life): refute with a higher one.
    if ((u.st != state::alive && u.incarnation >= self_.incarnation) ||
        u.incarnation > self_.incarnation)
      refute(u.incarnation, fx);
    return;
  }
  // Relays of one accusation are one confirmation, not many.
  const auto& accuser = u.accuser.empty() ? from : u.accuser;
  auto i = members_.find(u.id);
  if (i == members_.end()) {
    member_state m;
    m.info = u;
    m.info.accuser = accuser;
    m.since = now;
    if (u.st == state::suspect) {
      m.suspect_start = now;
      m.confirmations.insert(accuser);
    }
    if (u.st == state::suspect)
      suspects_.insert(u.id);
    live_ += is_live(u.st) ? 1 : 0;
    auto entry = members_.emplace(u.id, std::move(m)).first;
    index_.push_back(&*entry);
    auto& added = entry->second;
    if (u.st == state::alive || u.st == state::suspect) {
      fx.events.push_back({event::type::joined, added.info});
      broadcast(u);
    }
    return;
  }
  auto& m = i->second;
  if (u.st == state::suspect && m.info.st == state::suspect &&
      u.incarnation == m.info.incarnation) {
    // An independent confirmation: pass it on so others count it too.
    if (m.confirmations.insert(accuser).second) {
      auto relay = m.info;
      relay.accuser = accuser;
      broadcast(relay);
    }
    return;
  }
  if (!overrides(u, m.info))
    return;
  set_state(m, u, now, fx);
  if (u.st == state::suspect) {
    m.info.accuser = accuser;
    m.confirmations.insert(accuser);
  } else {
    m.info.accuser.clear();
  }
  broadcast(m.info);
}

void swim_core::suspect(member_state& m, const std::string& by, time_point now,
                        effects& fx) {
  if (m.info.st == state::suspect) {
    // Our own failed probe confirms a suspicion we only heard of.
    auto u = m.info;
    u.accuser = by;
    apply(u, by, now, fx);
    return;
  }
  if (m.info.st != state::alive)
    return;
  auto u = m.info;
  u.st = state::suspect;
  u.accuser = by;
  apply(u, by, now, fx);
}

effects swim_core::on_contact(const std::string& id, const std::string& address,
                              const std::string& name, time_point now) {
  effects fx;
  if (id == self_.id)
    return fx;
  if (auto i = members_.find(id); i != members_.end()) {
    i->second.last_heard = now;
    if (i->second.info.address.empty())
      i->second.info.address = address;
  } else {
    // Known only by contact so far: probe it like any member, so a lost
    // join is retried; its own updates (higher incarnation) will win.
    member_state m;
    m.info = {id, address, name, 0, state::alive};
    m.since = now;
    m.last_heard = now;
    auto entry = members_.emplace(id, std::move(m)).first;
    index_.push_back(&*entry);
    auto& added = entry->second;
    ++live_;
    fx.events.push_back({event::type::joined, added.info});
  }
  message msg;
  msg.kind = message::type::push_pull;
  msg.target_address = address;
  msg.updates = full_state();
  send(id, std::move(msg), fx);
  return fx;
}

void swim_core::start_probe(time_point now, effects& fx) {
  if (next_ >= order_.size()) {
    order_.clear();
    for (auto* e : index_)
      if (is_live(e->second.info.st))
        order_.push_back(e);
    for (size_t i = order_.size(); i > 1; --i)
      std::swap(order_[i - 1], order_[rng_.next_below(i)]);
    next_ = 0;
  }
  while (next_ < order_.size()) {
    auto* e = order_[next_++];
    if (!is_live(e->second.info.st))
      continue;
    const auto& id = e->first;
    probe_ = std::make_unique<probe>();
    probe_->target = id;
    probe_->seq = ++seq_;
    probe_->sent = now;
    probe_->deadline = now + probe_interval();
    message ping;
    ping.kind = message::type::ping;
    ping.seq = probe_->seq;
    send(id, std::move(ping), fx, id);
    return;
  }
}

effects swim_core::on_message(const std::string& from, const message& msg,
                              time_point now) {
  effects fx;
  if (auto i = members_.find(from); i != members_.end())
    i->second.last_heard = now;
  for (auto& u : msg.updates)
    apply(u, from, now, fx);
  switch (msg.kind) {
  case message::type::ping: {
    message ack;
    ack.kind = message::type::ack;
    ack.seq = msg.seq;
    send(from, std::move(ack), fx, from);
    break;
  }
  case message::type::ack: {
    auto r = relays_.find(msg.seq);
    if (r != relays_.end()) {
      message ack;
      ack.kind = message::type::ack;
      ack.seq = r->second.requester_seq;
      // The relayed ack says the target answered: carry its alive.
      send(r->second.requester, std::move(ack), fx);
      relays_.erase(r);
    }
    // Our probe answered, directly or relayed by a helper.
    if (probe_ && msg.seq == probe_->seq) {
      adjust_score(-1);
      fx.probe_rtt = now - probe_->sent;
      probe_.reset();
    }
    break;
  }
  case message::type::ping_req: {
    auto seq = ++seq_;
    relays_[seq] = {from, msg.seq, now + probe_timeout()};
    message ping;
    ping.kind = message::type::ping;
    ping.seq = seq;
    ping.target_address = msg.target_address;
    send(msg.target, std::move(ping), fx, msg.target);
    break;
  }
  case message::type::nack:
    if (probe_ && msg.seq == probe_->seq)
      ++probe_->nacks;
    break;
  case message::type::gossip:
  case message::type::push_pull_reply:
    break;
  case message::type::push_pull: {
    message reply;
    reply.kind = message::type::push_pull_reply;
    reply.updates = full_state();
    send(from, std::move(reply), fx);
    break;
  }
  }
  return fx;
}

effects swim_core::on_tick(time_point now) {
  effects fx;
  if (!left_) {
    if (probe_) {
      auto target = members_.find(probe_->target);
      if (!probe_->indirect_sent && now >= probe_->sent + probe_timeout()) {
        probe_->indirect_sent = true;
        auto helpers = random_members(static_cast<size_t>(cfg_.indirect_checks),
                                      {probe_->target});
        probe_->expected_nacks = static_cast<int64_t>(helpers.size());
        for (auto& h : helpers) {
          message req;
          req.kind = message::type::ping_req;
          req.seq = probe_->seq;
          req.target = probe_->target;
          if (target != members_.end())
            req.target_address = target->second.info.address;
          send(h, std::move(req), fx);
        }
      }
      if (now >= probe_->deadline) {
        // No ack at all: suspect it; missing nacks mean our own links or
        // our own slowness may be to blame, so grow less confident.
        adjust_score(1 + (probe_->expected_nacks - probe_->nacks > 0 ? 1 : 0));
        if (target != members_.end())
          suspect(target->second, self_.id, now, fx);
        probe_.reset();
      }
    }
    if (!probe_ && now >= next_probe_) {
      start_probe(now, fx);
      next_probe_ = now + probe_interval();
    }
    for (auto i = relays_.begin(); i != relays_.end();) {
      if (now >= i->second.deadline) {
        message nack;
        nack.kind = message::type::nack;
        nack.seq = i->second.requester_seq;
        send(i->second.requester, std::move(nack), fx);
        i = relays_.erase(i);
      } else {
        ++i;
      }
    }
    std::vector<std::string> expired;
    for (auto& id : suspects_) {
      auto& m = members_.at(id);
      if (now - m.suspect_start >= suspicion_timeout(m))
        expired.push_back(id);
    }
    for (auto& id : expired) {
      auto& m = members_.at(id);
      auto u = m.info;
      u.st = state::failed;
      set_state(m, u, now, fx);
      broadcast(m.info);
    }
    if (now >= next_push_pull_) {
      next_push_pull_ = now + from_ms(cfg_.push_pull_interval_ms);
      for (auto& id : random_members(1, {})) {
        message pp;
        pp.kind = message::type::push_pull;
        pp.updates = full_state();
        send(id, std::move(pp), fx);
      }
    }
  }
  // Failed and left members exist only when not everyone is live.
  bool any_gone = members_.size() > live_;
  if (!left_ && now >= next_reconnect_) {
    next_reconnect_ = now + from_ms(cfg_.reconnect_interval_ms);
    std::vector<std::string> failed;
    for (auto i = members_.begin(); any_gone && i != members_.end(); ++i)
      if (i->second.info.st == state::failed)
        failed.push_back(i->first);
    if (!failed.empty()) {
      message pp;
      pp.kind = message::type::push_pull;
      pp.updates = full_state();
      send(failed[rng_.next_below(failed.size())], std::move(pp), fx);
    }
  }
  if (now >= next_gossip_) {
    next_gossip_ = now + from_ms(cfg_.gossip_interval_ms);
    if (!broadcasts_.empty())
      for (auto& id :
           random_members(static_cast<size_t>(cfg_.gossip_nodes), {}, false)) {
        message g;
        g.kind = message::type::gossip;
        send(id, std::move(g), fx, id);
        if (broadcasts_.empty())
          break;
      }
  }
  // Forget long-failed and long-gone members (checked once a second).
  if (now < next_retention_ || !any_gone)
    return fx;
  next_retention_ = now + std::chrono::seconds(1);
  auto retain = from_ms(cfg_.retain_failed_ms);
  for (auto i = members_.begin(); i != members_.end();) {
    auto st = i->second.info.st;
    if ((st == state::failed || st == state::left) &&
        now - i->second.since > retain) {
      auto pos = std::find(index_.begin(), index_.end(), &*i);
      if (pos != index_.end()) {
        *pos = index_.back();
        index_.pop_back();
      }
      order_.clear(); // it may point at this entry: start a new round
      next_ = 0;
      i = members_.erase(i);
    } else
      ++i;
  }
  return fx;
}

effects swim_core::leave(time_point now) {
  effects fx;
  (void)now;
  left_ = true;
  ++self_.incarnation;
  self_.st = state::left;
  fx.persist_incarnation = self_.incarnation;
  broadcast(self_);
  for (auto& id :
       random_members(static_cast<size_t>(cfg_.gossip_nodes) + 2, {})) {
    message g;
    g.kind = message::type::gossip;
    send(id, std::move(g), fx);
  }
  return fx;
}

std::vector<member_view> swim_core::members() const {
  std::vector<member_view> out;
  for (auto& [id, m] : members_)
    out.push_back({m.info, m.since, m.last_heard});
  std::sort(out.begin(), out.end(),
            [](auto& a, auto& b) { return a.info.id < b.info.id; });
  return out;
}

std::optional<std::pair<state, uint64_t>>
swim_core::state_of(const std::string& id) const {
  auto i = members_.find(id);
  if (i == members_.end())
    return std::nullopt;
  return std::make_pair(i->second.info.st, i->second.info.incarnation);
}

std::optional<member_view> swim_core::find(const std::string& id) const {
  auto i = members_.find(id);
  if (i == members_.end())
    return std::nullopt;
  return member_view{i->second.info, i->second.since, i->second.last_heard};
}

} // namespace mycelium::membership
