#include "mycelium/supervision/supervisor_core.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace mycelium::supervision {

const char* to_string(strategy x) {
  switch (x) {
  case strategy::one_for_one:
    return "one_for_one";
  case strategy::one_for_all:
    return "one_for_all";
  case strategy::rest_for_one:
    return "rest_for_one";
  }
  return "unknown";
}

const char* to_string(restart_type x) {
  switch (x) {
  case restart_type::permanent:
    return "permanent";
  case restart_type::transient:
    return "transient";
  case restart_type::temporary:
    return "temporary";
  }
  return "unknown";
}

const char* to_string(child_state x) {
  switch (x) {
  case child_state::starting:
    return "starting";
  case child_state::running:
    return "running";
  case child_state::stopping:
    return "stopping";
  case child_state::restarting:
    return "restarting";
  case child_state::stopped:
    return "stopped";
  case child_state::failed:
    return "failed";
  }
  return "unknown";
}

bool from_string(const std::string& text, strategy& out) {
  for (auto x :
       {strategy::one_for_one, strategy::one_for_all, strategy::rest_for_one})
    if (text == to_string(x)) {
      out = x;
      return true;
    }
  return false;
}

bool from_string(const std::string& text, restart_type& out) {
  for (auto x : {restart_type::permanent, restart_type::transient,
                 restart_type::temporary})
    if (text == to_string(x)) {
      out = x;
      return true;
    }
  return false;
}

void supervisor_core::add_child(std::string id, restart_type restart) {
  assert(find(id) == nullptr);
  child_info c;
  c.id = std::move(id);
  c.restart = restart;
  children_.push_back(std::move(c));
}

const child_info* supervisor_core::find(const std::string& id) const {
  for (auto& c : children_)
    if (c.id == id)
      return &c;
  return nullptr;
}

child_info* supervisor_core::get(const std::string& id) {
  return const_cast<child_info*>(find(id));
}

size_t supervisor_core::index_of(const std::string& id) const {
  for (size_t i = 0; i < children_.size(); ++i)
    if (children_[i].id == id)
      return i;
  return children_.size();
}

bool supervisor_core::alive(const child_info& c) const {
  return c.state == child_state::starting || c.state == child_state::running ||
         c.state == child_state::stopping;
}

effects supervisor_core::start() {
  effects fx;
  start_request req;
  req.ticket = ++ticket_;
  for (auto& c : children_) {
    c.state = child_state::restarting;
    c.ticket = req.ticket;
    req.ids.push_back(c.id);
  }
  fx.start = std::move(req);
  return fx;
}

std::vector<std::string> supervisor_core::on_start_due(uint64_t ticket) {
  std::vector<std::string> ids;
  if (terminating_)
    return ids;
  for (auto& c : children_) {
    if (c.state == child_state::restarting && c.ticket == ticket) {
      c.state = child_state::starting;
      c.ticket = 0;
      ++c.incarnation;
      ids.push_back(c.id);
    }
  }
  return ids;
}

void supervisor_core::on_started(const std::string& id, time_point now) {
  if (auto* c = get(id); c != nullptr && c->state == child_state::starting) {
    c->state = child_state::running;
    c->started_at = now;
  }
}

duration supervisor_core::backoff(child_info& c, time_point now) {
  if (c.consecutive_failures > 0 && now - c.started_at >= policy_.backoff_reset)
    c.consecutive_failures = 0;
  auto n = c.consecutive_failures++;
  if (n == 0)
    return duration::zero();
  // initial * 2^(n-1), computed in doubles to avoid overflow, then capped.
  auto base = static_cast<double>(policy_.backoff_initial.count()) *
              std::pow(2.0, std::min(n - 1, 62));
  auto factor = 1.0 + policy_.backoff_jitter * (2.0 * rng_.next_unit() - 1.0);
  auto cap = static_cast<double>(policy_.backoff_max.count());
  return duration{static_cast<duration::rep>(std::min(base * factor, cap))};
}

effects supervisor_core::on_exit(const std::string& id, bool abnormal,
                                 const std::string& reason, time_point now,
                                 wall_ms wall) {
  effects fx;
  auto* c = get(id);
  if (c == nullptr || !alive(*c))
    return fx;
  if (abnormal) {
    c->last_reason = reason;
    c->last_failure = wall;
  }
  // An exit we asked for, or one that happened while the group was already
  // being stopped: it just advances the stop sequence.
  auto queued = std::find(stop_queue_.begin(), stop_queue_.end(), id);
  if (c->state == child_state::stopping || queued != stop_queue_.end() ||
      terminating_) {
    if (queued != stop_queue_.end())
      stop_queue_.erase(queued);
    bool keep = !terminating_ && c->restart != restart_type::temporary &&
                std::find(pending_start_.begin(), pending_start_.end(), id) !=
                    pending_start_.end();
    c->state = keep ? child_state::restarting
                    : (failure_ ? child_state::failed : child_state::stopped);
    if (stopping_ == id)
      stopping_.clear();
    stop_next(fx);
    return fx;
  }
  // A spontaneous exit of a running child.
  bool restart = c->restart == restart_type::permanent ||
                 (c->restart == restart_type::transient && abnormal);
  if (!restart) {
    c->state = child_state::stopped;
    return fx;
  }
  recent_.push_back(now);
  while (!recent_.empty() && now - recent_.front() > policy_.restart_window)
    recent_.pop_front();
  if (recent_.size() > static_cast<size_t>(policy_.max_restarts)) {
    c->state = child_state::failed;
    fx.escalated = true;
    terminate(fx, "restart intensity exceeded: " +
                      std::to_string(recent_.size()) + " restarts in " +
                      std::to_string(to_ms(policy_.restart_window)) +
                      " ms; last failure: " + id + ": " + reason);
    return fx;
  }
  auto delay = backoff(*c, now);
  ++c->restarts;
  fx.records.push_back(restart_record{wall, id, reason, c->restarts, delay});
  c->state = child_state::restarting;
  // The group that restarts with `c`, in start order.
  auto pos = index_of(id);
  size_t first = 0;
  size_t last = children_.size();
  if (policy_.how == strategy::one_for_one) {
    first = pos;
    last = pos + 1;
  } else if (policy_.how == strategy::rest_for_one) {
    first = pos;
  }
  for (size_t i = first; i < last; ++i) {
    auto& sib = children_[i];
    if (i != pos && sib.restart == restart_type::temporary) {
      if (alive(sib))
        stop_queue_.push_front(sib.id);
      else
        sib.state = child_state::stopped;
      continue;
    }
    if (i != pos && alive(sib))
      stop_queue_.push_front(sib.id); // reverse start order
    if (std::find(pending_start_.begin(), pending_start_.end(), sib.id) ==
        pending_start_.end())
      pending_start_.push_back(sib.id);
    if (i != pos && sib.state == child_state::restarting)
      sib.ticket = 0; // absorbed into this group restart
  }
  std::sort(pending_start_.begin(), pending_start_.end(),
            [&](auto& a, auto& b) { return index_of(a) < index_of(b); });
  pending_delay_ = std::max(pending_delay_, delay);
  stop_next(fx);
  return fx;
}

void supervisor_core::stop_next(effects& fx) {
  if (!stopping_.empty())
    return;
  while (!stop_queue_.empty()) {
    auto id = stop_queue_.front();
    stop_queue_.pop_front();
    auto* c = get(id);
    if (c != nullptr && alive(*c)) {
      c->state = child_state::stopping;
      stopping_ = id;
      fx.stop.push_back(id);
      return;
    }
  }
  if (terminating_) {
    if (!finished_) {
      finished_ = true;
      fx.finished = failure_.value_or("");
    }
    return;
  }
  if (!pending_start_.empty()) {
    start_request req;
    req.ticket = ++ticket_;
    req.delay = pending_delay_;
    for (auto& id : pending_start_) {
      auto* c = get(id);
      c->state = child_state::restarting;
      c->ticket = req.ticket;
      req.ids.push_back(id);
    }
    pending_start_.clear();
    pending_delay_ = duration::zero();
    fx.start = std::move(req);
  }
}

void supervisor_core::terminate(effects& fx, std::optional<std::string> why) {
  terminating_ = true;
  failure_ = std::move(why);
  pending_start_.clear();
  stop_queue_.clear();
  for (auto i = children_.rbegin(); i != children_.rend(); ++i) {
    if (i->state == child_state::restarting)
      i->state = failure_ ? child_state::failed : child_state::stopped;
    else if (alive(*i) && i->id != stopping_)
      stop_queue_.push_back(i->id);
  }
  stop_next(fx);
}

effects supervisor_core::shutdown() {
  effects fx;
  if (!terminating_)
    terminate(fx, std::nullopt);
  return fx;
}

} // namespace mycelium::supervision
