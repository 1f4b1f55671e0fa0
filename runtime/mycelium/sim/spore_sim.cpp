#include "mycelium/sim/spore_sim.hpp"

#include "mycelium/core/prng.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <set>
#include <tuple>
#include <unordered_map>

namespace mycelium::sim {

namespace {

using spores::sync_message;
using spores::tracker_core;
using spores::tracker_effects;

class spore_world {
public:
  explicit spore_world(const spore_options& o) : opts_(o), rng_(o.seed) {
    for (size_t i = 0; i < o.nodes; ++i)
      add(0);
  }

  spore_figures run() {
    auto& t = opts_.tracker;
    // Everyone up and connected: converge first.
    membership();
    if (!until_equal(120))
      return fail("no convergence before the partition");
    // Split; churn on both sides while apart.
    auto n = ids_.size();
    for (size_t i = 0; i < n; ++i)
      side_[i] = i < n / 2 ? 0 : 1;
    membership();
    for (int s = 0; s < 2; ++s) {
      for (size_t k = 0; k < opts_.churn; ++k) {
        // Stop a running node of side s ...
        for (size_t tries = 0; tries < 100; ++tries) {
          auto i = rng_.next_below(n);
          if (side_[i] == s && up_[i] && i != 0 && i != n / 2) {
            up_[i] = false;
            break;
          }
        }
        // ... and a new one joins it.
        add(s);
      }
    }
    membership();
    run_for(opts_.partition_slots * t.slot_ms);
    // Heal.
    std::fill(side_.begin(), side_.end(), 0);
    bytes_ = 0;
    counting_ = true;
    membership();
    auto start = wall_;
    if (!until_equal(600))
      return fail("not converged 600 s after the heal");
    fig_.rounds = (wall_ - start + t.sync_interval_ms - 1) / t.sync_interval_ms;
    fig_.bytes = bytes_;
    // The same set everywhere, holding every node anyone met.
    const spores::spore_set* first = nullptr;
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (!up_[i])
        continue;
      auto& set = nodes_[i]->spores();
      if (first == nullptr)
        first = &set;
      else if (!(set == *first))
        return fail(ids_[i] + " holds a different spore set");
    }
    for (auto& id : ids_)
      if (first->count(id) == 0)
        return fail("node " + id + " was forgotten");
    fig_.spores = first->size();
    return fig_;
  }

private:
  spore_figures fail(const std::string& why) {
    fig_.ok = false;
    fig_.violation = why;
    return fig_;
  }

  void add(int side) {
    auto i = ids_.size();
    ids_.push_back("node-" + std::to_string(i));
    index_[ids_.back()] = i;
    side_.push_back(side);
    up_.push_back(true);
    sees_.emplace_back();
    spores::latent_spore self;
    self.node_id = ids_.back();
    self.pointer = {{ids_.back() + ":7000"}, ids_.back(), 0, {}};
    spores::master_spore m;
    m.network_id = "sim";
    nodes_.push_back(std::make_unique<tracker_core>(
        opts_.tracker, self, m, opts_.seed * 31 + i, wall_));
  }

  bool reachable(size_t a, size_t b) const {
    return up_[a] && up_[b] && side_[a] == side_[b];
  }

  /// Tells every running node about changes in who it can see.
  void membership() {
    for (size_t a = 0; a < ids_.size(); ++a) {
      if (!up_[a])
        continue;
      auto& seen = sees_[a];
      for (size_t b = 0; b < ids_.size(); ++b) {
        if (a == b)
          continue;
        bool now = reachable(a, b);
        bool before = seen.count(b) != 0;
        if (now && !before) {
          seen.insert(b);
          perform(a, nodes_[a]->on_alive(ids_[b], ids_[b], ids_[b] + ":7000", 0,
                                         wall_));
        } else if (!now && before) {
          seen.erase(b);
          perform(a, nodes_[a]->on_gone(ids_[b], wall_));
        }
      }
    }
  }

  void perform(size_t from, tracker_effects fx) {
    for (auto& ev : fx.events) {
      fig_.returns += ev.what == spores::tracker_event::type::returned;
      fig_.sections += ev.what == spores::tracker_event::type::section_rejoined;
    }
    for (auto& [to, msg] : fx.sends) {
      auto it = index_.find(to);
      if (it == index_.end())
        continue;
      // The baseline replaces the digest by the whole set (push-pull).
      bool full = opts_.full_state && msg.kind == sync_message::type::digest;
      if (full)
        msg = full_set(from);
      send(from, it->second, std::move(msg), full);
    }
  }

  /// The baseline's message: node `i`'s whole spore set and master.
  sync_message full_set(size_t i) const {
    sync_message m;
    m.kind = sync_message::type::push;
    for (auto& [id, s] : nodes_[i]->spores())
      m.spores.push_back(s);
    m.master = nodes_[i]->master();
    return m;
  }

  void send(size_t from, size_t to, sync_message msg, bool full_request) {
    if (counting_)
      bytes_ += spores::wire_size(msg);
    if (rng_.next_unit() < opts_.loss)
      return;
    queue_.emplace_back(from, to, std::move(msg), full_request);
  }

  void step() {
    wall_ += 100;
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (up_[i])
        perform(i, nodes_[i]->on_tick(wall_));
    while (!queue_.empty()) {
      auto [from, to, msg, full_request] = std::move(queue_.front());
      queue_.pop_front();
      if (!reachable(from, to))
        continue;
      if (full_request) // the baseline's pull: answer with our whole set
        send(to, from, full_set(to), false);
      perform(to, nodes_[to]->on_message(ids_[from], msg, wall_));
    }
  }

  void run_for(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 100)
      step();
  }

  bool equal() const {
    const std::vector<uint64_t>* first = nullptr;
    std::vector<uint64_t> h0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!up_[i])
        continue;
      auto h = nodes_[i]->bucket_hashes();
      if (first == nullptr) {
        h0 = std::move(h);
        first = &h0;
      } else if (h != h0) {
        return false;
      }
    }
    return true;
  }

  bool until_equal(int64_t max_s) {
    auto end = wall_ + max_s * 1000;
    // Checked once per sync interval: it hashes every node's set.
    while (wall_ < end) {
      run_for(opts_.tracker.sync_interval_ms);
      if (equal())
        return true;
    }
    return false;
  }

  spore_options opts_;
  prng rng_;
  int64_t wall_ = 1700000000000;
  std::vector<std::string> ids_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<int> side_;
  std::vector<bool> up_;
  std::vector<std::set<size_t>> sees_;
  std::vector<std::unique_ptr<tracker_core>> nodes_;
  std::deque<std::tuple<size_t, size_t, sync_message, bool>> queue_;
  uint64_t bytes_ = 0;
  bool counting_ = false;
  spore_figures fig_;
};

} // namespace

spore_figures run_spores(const spore_options& opts) {
  spore_world w{opts};
  return w.run();
}

} // namespace mycelium::sim
