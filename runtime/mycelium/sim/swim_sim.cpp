#include "mycelium/sim/swim_sim.hpp"

#include "mycelium/core/prng.hpp"
#include "mycelium/membership/swim_core.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <unordered_map>

namespace mycelium::sim {

namespace {

using membership::event;
using membership::message;
using membership::state;
using membership::swim_core;

struct delivery {
  time_point at;
  uint64_t order;
  size_t from;
  size_t to;
  message msg;

  bool operator>(const delivery& other) const {
    return at != other.at ? at > other.at : order > other.order;
  }
};

class world {
public:
  explicit world(const options& o) : opts_(o), rng_(o.seed) {
    ids_.resize(o.nodes);
    for (size_t i = 0; i < o.nodes; ++i) {
      ids_[i] = "n" + std::to_string(i);
      index_[ids_[i]] = i;
    }
    nodes_.resize(o.nodes);
    incarnation_.assign(o.nodes, 0);
    crashed_.assign(o.nodes, false);
    paused_until_.assign(o.nodes, time_point{});
    slow_.assign(o.nodes, false);
    group_.assign(o.nodes, 0);
    for (size_t i = 0; i < o.nodes; ++i)
      slow_[i] = rng_.next_unit() < o.slow_fraction;
    for (size_t i = 0; i < o.nodes; ++i)
      boot(i);
    // Everyone joins through node 0 (the seed), spread over the first second.
    for (size_t i = 1; i < o.nodes; ++i) {
      auto fx = nodes_[i]->on_contact(ids_[0], ids_[0], ids_[0], now_);
      perform(i, std::move(fx));
    }
  }

  figures run() {
    auto& s = opts_.scenario;
    auto victim = opts_.nodes / 2;
    if (s == "crash") {
      settle(30);
      crash_at_ = now_;
      crash(victim);
      until([&] { return known_failed(victim) >= threshold(); }, 60);
      settle(5);
      restart(victim);
      heal_at_ = now_;
      until_converged(120);
    } else if (s == "partition" || s == "oneway" || s == "single" ||
               s == "bridge") {
      settle(30);
      for (size_t i = 0; i < opts_.nodes; ++i)
        group_[i] = s == "single" ? (i == victim ? 1 : 0)
                                  : (i < opts_.nodes / 2 ? 0 : 1);
      if (s == "bridge")
        group_[0] = 2; // sees both sides
      oneway_ = s == "oneway";
      partition_at_ = now_;
      settle(40);
      std::fill(group_.begin(), group_.end(), 0);
      oneway_ = false;
      heal_at_ = now_;
      until_converged(180);
    } else if (s == "pause") {
      settle(30);
      // Shorter than the minimum suspicion timeout: never declared failed.
      paused_until_[victim] = now_ + std::chrono::milliseconds(1500);
      settle(30);
      heal_at_ = now_;
      until_converged(60);
    } else if (s == "slow") {
      settle(120);
      heal_at_ = now_;
    } else if (s == "leave") {
      settle(30);
      perform(victim, nodes_[victim]->leave(now_));
      left_[victim] = incarnation_[victim];
      settle(5);
      crashed_[victim] = true; // it stops after leaving
      settle(30);
      heal_at_ = now_;
      until_converged(60);
    } else {
      fail("unknown scenario '" + s + "'");
    }
    fig_.simulated_s = seconds(now_ - time_point{});
    return fig_;
  }

private:
  static double seconds(duration d) {
    return std::chrono::duration<double>(d).count();
  }

  void fail(const std::string& why) {
    if (fig_.ok) {
      fig_.ok = false;
      fig_.violation =
          "t=" + std::to_string(seconds(now_ - time_point{})) + "s: " + why;
    }
  }

  void boot(size_t i) {
    membership::update self{ids_[i], ids_[i], ids_[i], incarnation_[i],
                            state::alive};
    nodes_[i] = std::make_unique<swim_core>(
        opts_.membership, self, opts_.seed * 7919 + i * 104729 + restarts_[i]++,
        opts_.lifeguard);
  }

  void crash(size_t i) {
    crashed_[i] = true;
    crashed_ever_.insert(i);
  }

  void restart(size_t i) {
    crashed_[i] = false;
    boot(i); // fresh state, persisted incarnation
    perform(i, nodes_[i]->on_contact(ids_[0], ids_[0], ids_[0], now_));
  }

  bool reachable(size_t from, size_t to) const {
    auto a = group_[from];
    auto b = group_[to];
    if (a == b || a == 2 || b == 2)
      return true;
    return oneway_ && a == 1; // one-way: only group 0 -> 1 is cut
  }

  void perform(size_t from, membership::effects fx) {
    if (fx.persist_incarnation)
      incarnation_[from] = *fx.persist_incarnation;
    for (auto& ev : fx.events)
      observe(from, ev);
    for (auto& out : fx.sends) {
      ++fig_.messages;
      auto it = index_.find(out.to);
      if (it == index_.end())
        continue;
      auto to = it->second;
      int copies = rng_.next_unit() < opts_.duplicate ? 2 : 1;
      for (int c = 0; c < copies; ++c) {
        if (rng_.next_unit() < opts_.loss) {
          ++fig_.dropped;
          continue;
        }
        auto span = opts_.max_delay_ms - opts_.min_delay_ms;
        auto delay = opts_.min_delay_ms +
                     static_cast<int64_t>(rng_.next_below(
                         static_cast<uint64_t>(span > 0 ? span : 1)));
        if (slow_[from] || slow_[to])
          delay += opts_.slow_delay_ms;
        queue_.push({now_ + from_ms(delay), ++order_, from, to,
                     c + 1 == copies ? std::move(out.msg) : out.msg});
      }
    }
  }

  void observe(size_t observer, const event& ev) {
    auto it = index_.find(ev.member.id);
    if (it == index_.end())
      return;
    auto subject = it->second;
    if (ev.what == event::type::suspect)
      ++fig_.suspicions;
    if (ev.what == event::type::failed) {
      if (crashed_ever_.count(subject) == 0 && left_.count(subject) == 0 &&
          partition_at_ == time_point{}) {
        ++fig_.false_failures;
        if (!slow_[subject])
          ++fig_.false_failures_healthy;
      }
      if (crash_at_ != time_point{} && fig_.confirmation_s < 0 &&
          subject == opts_.nodes / 2)
        fig_.confirmation_s = seconds(now_ - crash_at_);
      if (crash_at_ != time_point{} && first_failed_ == time_point{} &&
          subject == opts_.nodes / 2)
        first_failed_ = now_;
    }
    // Invariant: a node that left comes back only with a higher incarnation.
    if ((ev.what == event::type::joined || ev.what == event::type::recovered) &&
        left_.count(subject) != 0 && ev.member.incarnation <= left_[subject])
      fail(ids_[observer] + " sees " + ev.member.id +
           " alive again without rejoining (incarnation " +
           std::to_string(ev.member.incarnation) + ")");
  }

  void step() {
    now_ += from_ms(opts_.tick_ms);
    while (!queue_.empty() && queue_.top().at <= now_) {
      // top() is const only to protect the heap order, which pop() ends.
      auto d = std::move(const_cast<delivery&>(queue_.top()));
      queue_.pop();
      if (crashed_[d.to] || !reachable(d.from, d.to))
        continue;
      if (paused_until_[d.to] > now_) {
        d.at = paused_until_[d.to]; // held in the socket buffers
        queue_.push(std::move(d));
        continue;
      }
      perform(d.to, nodes_[d.to]->on_message(ids_[d.from], d.msg, now_));
    }
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (!crashed_[i] && paused_until_[i] <= now_)
        perform(i, nodes_[i]->on_tick(now_));
  }

  void settle(int64_t secs) {
    auto end = now_ + std::chrono::seconds(secs);
    while (now_ < end && fig_.ok)
      step();
  }

  template <class Pred>
  bool until(Pred done, int64_t max_secs) {
    auto end = now_ + std::chrono::seconds(max_secs);
    while (now_ < end && fig_.ok) {
      step();
      if (done()) {
        if (fig_.dissemination_99_s < 0 && first_failed_ != time_point{})
          fig_.dissemination_99_s = seconds(now_ - first_failed_);
        return true;
      }
    }
    return false;
  }

  size_t threshold() const {
    size_t live = 0;
    for (size_t i = 0; i < nodes_.size(); ++i)
      live += !crashed_[i];
    return (live * 99 + 99) / 100;
  }

  size_t known_failed(size_t subject) const {
    size_t n = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (crashed_[i] || i == subject)
        continue;
      auto m = nodes_[i]->state_of(ids_[subject]);
      n += m && m->first == state::failed;
    }
    return n;
  }

  /// Every live node sees every other live node alive; otherwise names the
  /// first pair that disagrees.
  bool converged(std::string* why = nullptr) const {
    // Cheap necessary condition first (O(N)): everyone counts the right
    // number of alive members; the O(N^2) walk only runs when it holds.
    size_t live = 0;
    for (size_t i = 0; i < nodes_.size(); ++i)
      live += !crashed_[i];
    for (size_t i = 0; why == nullptr && i < nodes_.size(); ++i)
      if (!crashed_[i] && nodes_[i]->alive_members() < live - 1)
        return false;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (crashed_[i])
        continue;
      for (size_t j = 0; j < nodes_.size(); ++j) {
        if (i == j || crashed_[j])
          continue;
        auto m = nodes_[i]->state_of(ids_[j]);
        if (!m || m->first != state::alive) {
          if (why != nullptr)
            *why = ids_[i] + " sees " + ids_[j] + " as " +
                   (m ? std::string{membership::to_string(m->first)} +
                            " (incarnation " + std::to_string(m->second) +
                            ", its own " +
                            std::to_string(nodes_[j]->self().incarnation) + ")"
                      : std::string{"unknown"});
          return false;
        }
      }
    }
    return true;
  }

  void until_converged(int64_t max_secs) {
    // O(N^2): checked twice a simulated second, not every step.
    int64_t steps = 0;
    auto every = std::max<int64_t>(1, 500 / opts_.tick_ms);
    if (until([&] { return ++steps % every == 0 && converged(); }, max_secs))
      fig_.convergence_s = seconds(now_ - heal_at_);
    else {
      std::string why;
      converged(&why);
      fail("not converged " + std::to_string(max_secs) +
           " s after the network healed: " + why);
    }
  }

  options opts_;
  prng rng_;
  time_point now_{};
  uint64_t order_ = 0;
  std::vector<std::string> ids_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::unique_ptr<swim_core>> nodes_;
  std::vector<uint64_t> incarnation_;
  std::map<size_t, uint64_t> restarts_;
  std::vector<bool> crashed_;
  std::set<size_t> crashed_ever_;
  std::map<size_t, uint64_t> left_;
  std::vector<time_point> paused_until_;
  std::vector<bool> slow_;
  std::vector<int> group_;
  bool oneway_ = false;
  std::priority_queue<delivery, std::vector<delivery>, std::greater<>> queue_;
  time_point crash_at_{};
  time_point partition_at_{};
  time_point heal_at_{};
  time_point first_failed_{};
  figures fig_;
};

} // namespace

figures run(const options& opts) {
  world w{opts};
  return w.run();
}

} // namespace mycelium::sim
