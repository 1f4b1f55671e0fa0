#include "mycelium/gdb/merkle.hpp"

#include "mycelium/core/fnv.hpp"

#include <algorithm>
#include <set>

namespace mycelium::gdb {

namespace {

/// Canonical hash of entry fields (FNV-1a, see core/fnv.hpp).
class hasher : public fnv1a {
public:
  using fnv1a::add;
  void add(const dot& d) {
    add(d.replica);
    add(d.counter);
  }
  void add(const std::set<dot>& ds) {
    add(static_cast<uint64_t>(ds.size()));
    for (auto& d : ds)
      add(d);
  }
  void add(const causal_context& c) {
    add(static_cast<uint64_t>(c.vector().size()));
    for (auto& [r, n] : c.vector()) {
      add(r);
      add(n);
    }
    add(c.cloud());
  }
};

} // namespace

uint64_t key_position(const std::string& key) {
  hasher h;
  h.add(key);
  // FNV's high bits mix poorly for short keys: finish with a 64-bit mixer.
  auto z = h.value();
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t digest(const std::string& key, const or_map::entry& e) {
  hasher h;
  h.add(key);
  h.add(e.presence);
  h.add(e.removed);
  auto& v = e.value;
  h.add(static_cast<uint64_t>(v.kind));
  h.add(v.lww.value);
  h.add(static_cast<uint64_t>(v.lww.stamp.wall));
  h.add(static_cast<uint64_t>(v.lww.stamp.logical));
  h.add(v.lww.writer);
  h.add(static_cast<uint64_t>(v.lww.set));
  h.add(static_cast<uint64_t>(v.mv.values.size()));
  for (auto& [d, s] : v.mv.values) {
    h.add(d);
    h.add(s);
  }
  h.add(v.mv.context);
  h.add(static_cast<uint64_t>(v.counter.parts.size()));
  for (auto& [r, pn] : v.counter.parts) {
    h.add(r);
    h.add(pn.first);
    h.add(pn.second);
  }
  h.add(static_cast<uint64_t>(v.set.entries.size()));
  for (auto& [el, ds] : v.set.entries) {
    h.add(el);
    h.add(ds);
  }
  h.add(v.set.context);
  return h.value();
}

merkle_tree::merkle_tree(const or_map& map, int fanout_bits, int depth)
    : bits_(fanout_bits), depth_(depth), levels_(static_cast<size_t>(depth)) {
  for (auto& [key, e] : map.entries) {
    auto pos = key_position(key);
    auto d = digest(key, e);
    for (int l = 1; l <= depth_; ++l) {
      auto p = pos >> (64 - bits_ * l);
      levels_[static_cast<size_t>(l - 1)][p] ^= d;
      if (l == depth_)
        leaves_[p].push_back(key);
    }
  }
}

uint64_t merkle_tree::prefix(const std::vector<uint8_t>& path) const {
  uint64_t p = 0;
  for (auto step : path)
    p = (p << bits_) | step;
  return p;
}

std::vector<uint64_t>
merkle_tree::children(const std::vector<uint8_t>& path) const {
  std::vector<uint64_t> out(static_cast<size_t>(fanout()), 0);
  auto level = path.size() + 1;
  if (level > static_cast<size_t>(depth_))
    return out;
  auto base = prefix(path) << bits_;
  auto& hashes = levels_[level - 1];
  for (int c = 0; c < fanout(); ++c)
    if (auto i = hashes.find(base | static_cast<uint64_t>(c));
        i != hashes.end())
      out[static_cast<size_t>(c)] = i->second;
  return out;
}

std::vector<std::string>
merkle_tree::keys(const std::vector<uint8_t>& path) const {
  auto i = leaves_.find(prefix(path));
  return i == leaves_.end() ? std::vector<std::string>{} : i->second;
}

sync_message start_sync(const or_map& map, int fanout_bits, int depth) {
  merkle_tree tree{map, fanout_bits, depth};
  sync_message m;
  m.kind = sync_message::type::nodes;
  m.nodes.push_back({{}, tree.children({})});
  return m;
}

std::vector<sync_message> on_sync(or_map& map, const sync_message& msg,
                                  int fanout_bits, int depth) {
  std::vector<sync_message> out;
  if (msg.kind == sync_message::type::nodes) {
    merkle_tree tree{map, fanout_bits, depth};
    sync_message deeper;
    deeper.kind = sync_message::type::nodes;
    sync_message leaves;
    leaves.kind = sync_message::type::entries;
    for (auto& n : msg.nodes) {
      if (n.path.size() >= static_cast<size_t>(depth) ||
          n.hashes.size() != static_cast<size_t>(tree.fanout()))
        continue; // not our tree's shape: ignore
      auto ours = tree.children(n.path);
      for (size_t c = 0; c < ours.size(); ++c) {
        if (ours[c] == n.hashes[c])
          continue;
        auto child = n.path;
        child.push_back(static_cast<uint8_t>(c));
        if (child.size() == static_cast<size_t>(depth)) {
          // A differing leaf: our entries there, and which leaf it is.
          leaves.nodes.push_back({child, {}});
          for (auto& k : tree.keys(child))
            leaves.entries.emplace_back(k, map.entries.at(k));
        } else {
          deeper.nodes.push_back({child, tree.children(child)});
        }
      }
    }
    if (!deeper.nodes.empty())
      out.push_back(std::move(deeper));
    if (!leaves.nodes.empty())
      out.push_back(std::move(leaves));
    return out;
  }
  // Entries: merge, then (first time) answer with what still differs.
  std::unordered_map<std::string, uint64_t> theirs;
  for (auto& [k, e] : msg.entries) {
    theirs[k] = digest(k, e);
    map.merge(k, e);
  }
  if (msg.kind == sync_message::type::entries_final)
    return out;
  merkle_tree tree{map, fanout_bits, depth};
  sync_message answer;
  answer.kind = sync_message::type::entries_final;
  for (auto& leaf : msg.nodes)
    if (leaf.path.size() == static_cast<size_t>(depth))
      for (auto& k : tree.keys(leaf.path)) {
        auto& e = map.entries.at(k);
        auto t = theirs.find(k);
        if (t == theirs.end() || t->second != digest(k, e))
          answer.entries.emplace_back(k, e);
      }
  if (!answer.entries.empty())
    out.push_back(std::move(answer));
  return out;
}

} // namespace mycelium::gdb
