#include "mycelium/sim/gdb_sim.hpp"

#include "mycelium/core/prng.hpp"
#include "mycelium/gdb/codec.hpp"
#include "mycelium/gdb/replica_core.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace mycelium::sim {

namespace {

using gdb::crdt_value;
using gdb::replica_core;
using gdb::replica_effects;

const char* const shapes[] = {"halves", "single", "three", "bridge", "oneway"};

struct in_flight {
  size_t from;
  size_t to;
  std::string bytes;
};

/// What was acknowledged, per key, to check the final state against.
struct acked {
  std::map<std::string, int64_t> counters;
  std::map<std::string, std::set<std::string>> sets;
  std::map<std::string, gdb::lww_register> registers;
  std::map<std::string, std::set<std::string>> mv_values;
  /// Wall ms of the latest write and the values written then.
  std::map<std::string, std::pair<int64_t, std::set<std::string>>> mv_latest;
  /// Owned keys: the owner's last put value, or nothing after a delete.
  std::map<std::string, std::optional<std::string>> owned;
};

class gdb_world {
public:
  explicit gdb_world(const gdb_options& o)
      : opts_(o), rng_(o.seed),
        shape_(o.shape == "any" ? shapes[o.seed % 5] : o.shape) {
    fig_.shape = shape_;
    for (size_t i = 0; i < o.nodes; ++i) {
      ids_.push_back("n" + std::to_string(i));
      stores_.emplace_back();
      up_.push_back(true);
      sees_.emplace_back();
      cores_.push_back(make_core(i));
      next_tick_.push_back(wall_ + o.anti_entropy_ms * static_cast<int64_t>(i) /
                                       static_cast<int64_t>(o.nodes));
    }
  }

  gdb_figures run() {
    static const std::set<std::string> known(std::begin(shapes),
                                             std::end(shapes));
    if (known.count(shape_) == 0)
      return fail("unknown partition shape '" + shape_ + "'");
    membership();
    run_for(2000, true);
    partitioned_ = true;
    membership();
    // One node crashes a third into the partition and restarts from its
    // store at two thirds.
    auto victim = rng_.next_below(opts_.nodes);
    run_for(opts_.partition_ms / 3, true);
    crash(victim);
    run_for(opts_.partition_ms / 3, true);
    restart(victim);
    run_for(opts_.partition_ms - 2 * (opts_.partition_ms / 3), true);
    partitioned_ = false;
    membership();
    auto healed = wall_;
    while (!identical()) {
      if (wall_ - healed > 120000)
        return fail("replicas still differ 120 s after the heal");
      run_for(100, false);
    }
    fig_.convergence_s = static_cast<double>(wall_ - healed) / 1000.0;
    if (!fig_.ok)
      return fig_;
    return check();
  }

private:
  gdb_figures fail(const std::string& why) {
    if (fig_.ok) {
      fig_.ok = false;
      fig_.violation = why;
    }
    return fig_;
  }

  std::unique_ptr<replica_core> make_core(size_t i) {
    return std::make_unique<replica_core>(ids_[i], gdb::limits{},
                                          opts_.seed * 1000 + i + restarts_);
  }

  int side(size_t i) const {
    auto n = opts_.nodes;
    if (shape_ == "single")
      return i + 1 == n ? 1 : 0;
    if (shape_ == "three")
      return static_cast<int>(i % 3);
    return i < n / 2 ? 0 : 1;
  }

  /// Whether messages from `a` reach `b` now.
  bool link(size_t a, size_t b) const {
    if (!partitioned_ || side(a) == side(b))
      return true;
    if (shape_ == "bridge")
      return a == 0 || b == 0;
    if (shape_ == "oneway")
      return side(a) == 0;
    return false;
  }

  /// The membership oracle: b is a peer of a while both run and messages
  /// flow both ways.
  void membership() {
    for (size_t a = 0; a < ids_.size(); ++a) {
      if (!up_[a])
        continue;
      for (size_t b = 0; b < ids_.size(); ++b) {
        if (a == b)
          continue;
        bool now = up_[b] && link(a, b) && link(b, a);
        if (now && sees_[a].insert(b).second)
          cores_[a]->peer_up(ids_[b], ids_[b]);
        else if (!now && sees_[a].erase(b) != 0)
          cores_[a]->peer_down(ids_[b]);
      }
    }
  }

  void crash(size_t i) {
    ++fig_.crashes;
    up_[i] = false;
    cores_[i].reset();
    sees_[i].clear();
    membership();
  }

  void restart(size_t i) {
    ++restarts_;
    cores_[i] = make_core(i);
    for (auto& [key, bytes] : stores_[i]) {
      auto e = gdb::decode_entry(bytes);
      if (!e) {
        fail("stored entry of " + ids_[i] +
             " does not decode: " + e.err().to_string());
        continue;
      }
      cores_[i]->db().apply(e->first, e->second);
    }
    up_[i] = true;
    membership();
  }

  /// Persists, then sends (the order the actor keeps).
  void perform(size_t i, const replica_effects& fx) {
    auto& entries = cores_[i]->db().map().entries;
    for (auto& k : fx.persist)
      stores_[i][k] = gdb::encode_entry(k, entries.at(k));
    for (auto& [to, msg] : fx.sends) {
      auto bytes = gdb::encode(msg);
      ++fig_.messages;
      fig_.bytes += bytes.size();
      if (rng_.next_unit() < opts_.loss)
        continue;
      auto target = static_cast<size_t>(std::stoul(to.substr(1)));
      int copies = rng_.next_unit() < opts_.duplicate ? 2 : 1;
      for (int c = 0; c < copies; ++c) {
        auto delay = opts_.min_delay_ms +
                     static_cast<int64_t>(rng_.next_below(static_cast<uint64_t>(
                         opts_.max_delay_ms - opts_.min_delay_ms + 1)));
        queue_.emplace(wall_ + delay, in_flight{i, target, bytes});
      }
    }
  }

  void deliver() {
    while (!queue_.empty() && queue_.begin()->first <= wall_) {
      auto m = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
      if (!up_[m.to] || !up_[m.from] || !link(m.from, m.to))
        continue;
      auto msg = gdb::decode(m.bytes);
      if (!msg) {
        fail("a message does not decode: " + msg.err().to_string());
        continue;
      }
      perform(m.to, cores_[m.to]->on_message(ids_[m.from], *msg, wall_));
    }
  }

  void write(size_t i) {
    auto& core = *cores_[i];
    auto k = std::to_string(rng_.next_below(opts_.keys));
    auto value = ids_[i] + "-" + std::to_string(++seq_);
    auto what = rng_.next_below(5);
    std::string key;
    crdt_value::type kind = crdt_value::type::lww;
    switch (what) {
    case 0:
      key = "c/" + k;
      kind = crdt_value::type::counter;
      value = std::to_string(static_cast<int64_t>(rng_.next_below(21)) - 5);
      break;
    case 1:
      key = "s/" + k;
      kind = crdt_value::type::set;
      break;
    case 2:
      key = "r/" + k;
      break;
    case 3:
      key = "m/" + k;
      kind = crdt_value::type::mv;
      break;
    default:
      key = "d/" + ids_[i] + "/" + std::to_string(rng_.next_below(3));
      break;
    }
    if (what == 4 && core.db().map().contains(key) && rng_.next_below(2) == 0) {
      auto fx = core.del(key);
      if (!fx) {
        fail("delete of " + key + " refused: " + fx.err().to_string());
        return;
      }
      perform(i, *fx);
      acked_.owned[key] = std::nullopt;
      ++fig_.acked_writes;
      return;
    }
    auto fx = core.put(key, value, kind, wall_);
    if (!fx) {
      fail("write to " + key + " refused: " + fx.err().to_string());
      return;
    }
    perform(i, *fx); // persisted: from here on the write is acknowledged
    ++fig_.acked_writes;
    switch (what) {
    case 0:
      acked_.counters[key] += std::stoll(value);
      break;
    case 1:
      acked_.sets[key].insert(value);
      break;
    case 2:
      acked_.registers[key].merge(core.db().map().entries.at(key).value.lww);
      break;
    case 3: {
      acked_.mv_values[key].insert(value);
      auto& latest = acked_.mv_latest[key];
      if (latest.first != wall_)
        latest = {wall_, {}};
      latest.second.insert(value);
      break;
    }
    default:
      acked_.owned[key] = value;
    }
  }

  void run_for(int64_t ms, bool writes) {
    for (int64_t t = 0; t < ms; t += 10) {
      wall_ += 10;
      deliver();
      for (size_t i = 0; i < ids_.size(); ++i) {
        if (!up_[i])
          continue;
        if (wall_ >= next_tick_[i]) {
          next_tick_[i] += opts_.anti_entropy_ms;
          perform(i, cores_[i]->on_tick(wall_));
        }
        if (writes && rng_.next_unit() < opts_.writes_per_s / 100.0)
          write(i);
      }
    }
  }

  bool identical() const {
    for (size_t i = 1; i < stores_.size(); ++i)
      if (stores_[i] != stores_[0])
        return false;
    return true;
  }

  gdb_figures check() {
    // What each node serves is what it stored.
    for (size_t i = 0; i < ids_.size(); ++i) {
      auto& entries = cores_[i]->db().map().entries;
      if (entries.size() != stores_[i].size())
        return fail(ids_[i] + " holds entries it never stored");
      for (auto& [k, e] : entries)
        if (gdb::encode_entry(k, e) != stores_[i][k])
          return fail(ids_[i] + " serves '" + k + "' unlike its store");
    }
    auto& db = cores_[0]->db();
    fig_.keys = db.map().entries.size();
    for (auto& [key, sum] : acked_.counters) {
      auto v = db.get(key);
      if (!v || v->counter != sum)
        return fail("counter " + key + " is " +
                    (v ? std::to_string(v->counter) : "missing") +
                    ", acknowledged increments sum to " + std::to_string(sum));
    }
    for (auto& [key, elems] : acked_.sets) {
      auto v = db.get(key);
      if (!v)
        return fail("set " + key + " is missing");
      std::set<std::string> have(v->values.begin(), v->values.end());
      if (have != elems)
        return fail("set " + key + " holds " + std::to_string(have.size()) +
                    " elements, " + std::to_string(elems.size()) +
                    " were acknowledged");
    }
    for (auto& [key, reg] : acked_.registers) {
      auto* v = db.map().get(key);
      if (v == nullptr || !(v->lww == reg))
        return fail("register " + key +
                    " does not hold the acknowledged "
                    "write with the highest stamp (" +
                    reg.value + ")");
    }
    for (auto& [key, values] : acked_.mv_values) {
      auto v = db.get(key);
      if (!v)
        return fail("multi-value register " + key + " is missing");
      for (auto& x : v->values)
        if (values.count(x) == 0)
          return fail("multi-value register " + key +
                      " holds a value nobody wrote: " + x);
      for (auto& x : acked_.mv_latest[key].second)
        if (std::find(v->values.begin(), v->values.end(), x) == v->values.end())
          return fail("multi-value register " + key +
                      " lost the latest acknowledged write " + x);
    }
    for (auto& [key, last] : acked_.owned) {
      auto v = db.get(key);
      if (!last && v)
        return fail(key + " is back after its owner's acknowledged delete");
      if (last && (!v || v->values.front() != *last))
        return fail(key + " does not hold its owner's last write " + *last);
    }
    return fig_;
  }

  gdb_options opts_;
  prng rng_;
  std::string shape_;
  int64_t wall_ = 1700000000000;
  bool partitioned_ = false;
  uint64_t restarts_ = 0;
  uint64_t seq_ = 0;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<replica_core>> cores_;
  std::vector<std::map<std::string, std::string>> stores_;
  std::vector<bool> up_;
  std::vector<std::set<size_t>> sees_;
  std::vector<int64_t> next_tick_;
  std::multimap<int64_t, in_flight> queue_;
  acked acked_;
  gdb_figures fig_;
};

} // namespace

gdb_figures run_gdb(const gdb_options& opts) {
  gdb_world w{opts};
  return w.run();
}

} // namespace mycelium::sim
