#include "mycelium/gdb/crdt.hpp"
#include "mycelium/core/prng.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <set>

using namespace mycelium;
using namespace mycelium::gdb;

namespace {

/// A random history of operations on `replicas` replicas of one CRDT:
/// operations, deltas delivered late, duplicated or never (full-state
/// merges make up for lost ones), and full-state merges between replicas.
/// Records each operation's causal history for the reference models.
template <class T>
struct history {
  struct op {
    int kind = 0; // meaning per type
    std::string arg;
    int64_t amount = 0;
    hlc_stamp stamp;
    std::string replica;
    std::set<int> before; // operations this one had seen
  };
  std::vector<T> states;
  std::vector<std::set<int>> seen;
  std::vector<op> ops;
  std::vector<std::pair<int, T>> deltas; // (op, delta)

  explicit history(size_t replicas) : states(replicas), seen(replicas) {}

  /// `apply(state, op) -> delta`.
  void run(prng& rng, int steps, const std::function<op(prng&)>& make,
           const std::function<T(T&, const op&)>& apply) {
    auto n = states.size();
    for (int s = 0; s < steps; ++s) {
      auto r = rng.next_below(n);
      switch (rng.next_below(4)) {
      case 0:
      case 1: {
        auto o = make(rng);
        o.replica = "r" + std::to_string(r);
        o.before = seen[r];
        o.stamp = {static_cast<int64_t>(s), 0};
        auto id = static_cast<int>(ops.size());
        ops.push_back(o);
        deltas.emplace_back(id, apply(states[r], o));
        seen[r].insert(id);
        break;
      }
      case 2: // deliver some delta somewhere (maybe again)
        if (!deltas.empty()) {
          auto& [id, d] = deltas[rng.next_below(deltas.size())];
          states[r].merge(d);
          // Deltas travel without causal delivery: the receiver has seen
          // this operation, not necessarily its past.
          seen[r].insert(id);
        }
        break;
      case 3: { // full-state merge from another replica
        auto from = rng.next_below(n);
        states[r].merge(states[from]);
        seen[r].insert(seen[from].begin(), seen[from].end());
        break;
      }
      }
    }
    // Everyone hears everything, in a shuffled order of full states.
    for (int round = 0; round < 2; ++round)
      for (size_t a = 0; a < n; ++a)
        for (size_t b = 0; b < n; ++b)
          states[a].merge(states[(b + a) % n]);
  }

  bool converged() const {
    for (auto& s : states)
      if (!(s == states[0]))
        return false;
    return true;
  }
};

} // namespace

TEST_CASE("or-set: random histories converge to add-wins semantics") {
  prng rng{11};
  for (int trial = 0; trial < 300; ++trial) {
    using H = history<or_set>;
    H h{3};
    h.run(
        rng, 40,
        [](prng& g) {
          H::op o;
          o.kind = static_cast<int>(g.next_below(2)); // 0 add, 1 remove
          o.arg = std::string(1, static_cast<char>('a' + g.next_below(3)));
          return o;
        },
        [](or_set& s, const H::op& o) {
          return o.kind == 0 ? s.add(o.replica, o.arg) : s.remove(o.arg);
        });
    REQUIRE(h.converged());
    // Reference: e is in iff some add(e) is not in the history of any
    // remove(e) (and of any later add(e) that replaced it: still in).
    std::set<std::string> expect;
    for (size_t i = 0; i < h.ops.size(); ++i) {
      auto& a = h.ops[i];
      if (a.kind != 0)
        continue;
      bool removed = false;
      for (auto& r : h.ops)
        if (r.kind == 1 && r.arg == a.arg &&
            r.before.count(static_cast<int>(i)) != 0)
          removed = true;
      if (!removed)
        expect.insert(a.arg);
    }
    auto got = h.states[0].elements();
    CHECK(std::set<std::string>(got.begin(), got.end()) == expect);
  }
}

TEST_CASE("mv-register: concurrent writes survive until overwritten") {
  prng rng{12};
  for (int trial = 0; trial < 300; ++trial) {
    using H = history<mv_register>;
    H h{3};
    h.run(
        rng, 30,
        [](prng& g) {
          H::op o;
          o.arg = "v" + std::to_string(g.next_below(1000));
          return o;
        },
        [](mv_register& s, const H::op& o) {
          return s.write(o.replica, o.arg);
        });
    REQUIRE(h.converged());
    std::set<std::string> expect;
    for (size_t i = 0; i < h.ops.size(); ++i) {
      bool overwritten = false;
      for (auto& w : h.ops)
        overwritten |= w.before.count(static_cast<int>(i)) != 0;
      if (!overwritten)
        expect.insert(h.ops[i].arg);
    }
    auto got = h.states[0].read();
    CHECK(std::set<std::string>(got.begin(), got.end()) == expect);
  }
}

TEST_CASE("pn-counter and lww-register converge to the reference") {
  prng rng{13};
  for (int trial = 0; trial < 300; ++trial) {
    using HC = history<pn_counter>;
    HC c{3};
    c.run(
        rng, 40,
        [](prng& g) {
          HC::op o;
          o.amount = static_cast<int64_t>(g.next_below(21)) - 10;
          return o;
        },
        [](pn_counter& s, const HC::op& o) {
          return s.add(o.replica, o.amount);
        });
    REQUIRE(c.converged());
    int64_t sum = 0;
    for (auto& o : c.ops)
      sum += o.amount;
    CHECK(c.states[0].value() == sum);

    using HL = history<lww_register>;
    HL l{3};
    l.run(
        rng, 30,
        [](prng& g) {
          HL::op o;
          o.arg = "v" + std::to_string(g.next_below(5));
          return o;
        },
        [](lww_register& s, const HL::op& o) {
          auto delta = lww_register::write(o.arg, o.stamp, o.replica);
          s.merge(delta);
          return delta;
        });
    REQUIRE(l.converged());
    if (!l.ops.empty()) {
      auto best = l.ops[0];
      for (auto& o : l.ops)
        if (std::tie(best.stamp, best.replica, best.arg) <
            std::tie(o.stamp, o.replica, o.arg))
          best = o;
      CHECK(l.states[0].value == best.arg);
    }
  }
}

TEST_CASE("merges are commutative, associative and idempotent") {
  prng rng{14};
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<or_set> s(3);
    std::vector<mv_register> m(3);
    std::vector<or_map> om(3);
    for (int i = 0; i < 12; ++i) {
      auto r = rng.next_below(3);
      auto e = std::string(1, static_cast<char>('a' + rng.next_below(3)));
      if (rng.next_below(3) == 0)
        s[r].remove(e);
      else
        s[r].add("r" + std::to_string(r), e);
      m[r].write("r" + std::to_string(r), e);
      if (rng.next_below(3) == 0) {
        om[r].remove(e);
      } else {
        crdt_value v;
        v.kind = rng.next_below(4) == 0 ? crdt_value::type::set
                                        : crdt_value::type::lww;
        v.lww = lww_register::write(e, {i, 0}, "r" + std::to_string(r));
        v.set.add("r" + std::to_string(r), e);
        om[r].update("r" + std::to_string(r), e, v);
      }
      if (rng.next_below(4) == 0) {
        auto o = rng.next_below(3);
        s[r].merge(s[o]);
        m[r].merge(m[o]);
        om[r].merge(om[o]);
      }
    }
    auto join = [](auto a, const auto& b) {
      a.merge(b);
      return a;
    };
    CHECK(join(s[0], s[1]) == join(s[1], s[0]));
    CHECK(join(join(s[0], s[1]), s[2]) == join(s[0], join(s[1], s[2])));
    CHECK(join(s[0], s[0]) == s[0]);
    CHECK(join(m[0], m[1]) == join(m[1], m[0]));
    CHECK(join(join(m[0], m[1]), m[2]) == join(m[0], join(m[1], m[2])));
    CHECK(join(m[0], m[0]) == m[0]);
    CHECK(join(om[0], om[1]) == join(om[1], om[0]));
    CHECK(join(join(om[0], om[1]), om[2]) == join(om[0], join(om[1], om[2])));
    CHECK(join(om[0], om[0]) == om[0]);
  }
}

TEST_CASE("or-map of counters: add-wins keys, values merged across removes") {
  prng rng{15};
  for (int trial = 0; trial < 300; ++trial) {
    using H = history<or_map>;
    H h{3};
    h.run(
        rng, 40,
        [](prng& g) {
          H::op o;
          o.kind = g.next_below(3) == 0 ? 1 : 0; // 0 update, 1 remove
          o.arg = std::string(1, static_cast<char>('k' + g.next_below(3)));
          o.amount = static_cast<int64_t>(g.next_below(11)) - 5;
          return o;
        },
        [](or_map& m, const H::op& o) {
          if (o.kind == 1)
            return m.remove(o.arg);
          crdt_value current;
          current.kind = crdt_value::type::counter;
          if (auto i = m.entries.find(o.arg); i != m.entries.end())
            current = i->second.value;
          crdt_value delta;
          delta.kind = crdt_value::type::counter;
          delta.counter = current.counter.add(o.replica, o.amount);
          return m.update(o.replica, o.arg, delta);
        });
    REQUIRE(h.converged());
    std::map<std::string, int64_t> sums;
    std::set<std::string> present;
    for (size_t i = 0; i < h.ops.size(); ++i) {
      auto& u = h.ops[i];
      if (u.kind != 0)
        continue;
      sums[u.arg] += u.amount;
      bool removed = false;
      for (auto& r : h.ops)
        removed |= r.kind == 1 && r.arg == u.arg &&
                   r.before.count(static_cast<int>(i)) != 0;
      if (!removed)
        present.insert(u.arg);
    }
    auto keys = h.states[0].keys();
    CHECK(std::set<std::string>(keys.begin(), keys.end()) == present);
    for (auto& k : present)
      CHECK(h.states[0].get(k)->counter.value() == sums[k]);
  }
}

TEST_CASE("or-map entries are self-contained: a subset merges on its own") {
  or_map a;
  crdt_value v;
  v.lww = lww_register::write("x", {1, 0}, "a");
  a.update("a", "k1", v);
  a.update("a", "k2", v);
  auto b = a;
  a.remove("k1");
  v.lww = lww_register::write("y", {2, 0}, "a");
  a.update("a", "k3", v);
  // Ship only k1's entry (one digest range): b learns of the removal and
  // nothing else changes.
  b.merge("k1", a.entries.at("k1"));
  CHECK_FALSE(b.contains("k1"));
  CHECK(b.contains("k2"));
  CHECK_FALSE(b.contains("k3"));
  // A concurrent update on b still wins over the remove it did not see.
  auto c = b;
  v.lww = lww_register::write("z", {3, 0}, "c");
  c.update("c", "k2", v);
  auto a2 = a;
  a2.remove("k2");
  a2.merge(c);
  CHECK(a2.contains("k2"));
  CHECK(a2.get("k2")->lww.value == "z");
}
