#include "mycelium/spores/spore.hpp"

#include "mycelium/core/fnv.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <tuple>

namespace mycelium::spores {

namespace {

/// The canonical hash of spore fields (FNV-1a, see core/fnv.hpp).
class hasher : public fnv1a {
public:
  using fnv1a::add;
  void add(const hlc_stamp& s) {
    add(s.wall);
    add(s.logical);
  }
};

// Each record's content (what tie-breaks compare) and its stamp are added
// separately: digests hash both, tie-breaks only the content.
void add_content(hasher& h, const node_pointer& p) {
  h.add(static_cast<uint64_t>(p.addresses.size()));
  for (auto& a : p.addresses)
    h.add(a);
  h.add(p.name);
  h.add(p.incarnation);
}

void add_content(hasher& h, const data_summary& s) {
  h.add(s.data_bytes);
  h.add(s.processed_ops);
}

void add_content(hasher& h, const master_spore& m) {
  h.add(m.network_id);
  h.add(m.protocol_min);
  h.add(m.protocol_max);
  h.add(static_cast<uint64_t>(m.seeds.size()));
  for (auto& s : m.seeds)
    h.add(s);
  h.add(m.epoch);
  h.add(m.settings_digest);
}

/// Tie-breaks hash the content without the stamp: between concurrent
/// writes the content decides, never whose clock ran ahead.
template <class T>
uint64_t content(const T& record) {
  hasher h;
  add_content(h, record);
  return h.value();
}

template <class T>
uint64_t stamped(const T& record) {
  hasher h;
  add_content(h, record);
  h.add(record.stamp);
  return h.value();
}

/// >0 when `a` wins over `b` as a pointer.
int compare(const node_pointer& a, const node_pointer& b,
            const merge_rules& rules) {
  if (a.incarnation != b.incarnation)
    return a.incarnation < b.incarnation ? -1 : 1;
  return lww_compare(a.stamp, content(a), b.stamp, content(b),
                     rules.lww_tolerance_ms);
}

} // namespace

uint64_t digest(const node_pointer& p) {
  return stamped(p);
}

uint64_t digest(const latent_spore& s) {
  hasher h;
  h.add(s.node_id);
  h.add(stamped(s.pointer));
  h.add(s.first_seen_ms);
  h.add(static_cast<uint64_t>(s.activity.size()));
  for (auto& r : s.activity) {
    h.add(r.first);
    h.add(r.last);
  }
  h.add(stamped(s.summary));
  return h.value();
}

uint64_t digest(const master_spore& m) {
  return stamped(m);
}

std::optional<int64_t> latent_spore::last_active_slot() const {
  if (activity.empty())
    return std::nullopt;
  return activity.back().last;
}

std::vector<slot_range> normalise(std::vector<slot_range> ranges) {
  for (auto& r : ranges)
    if (r.last < r.first)
      std::swap(r.first, r.last);
  std::sort(ranges.begin(), ranges.end(), [](auto& a, auto& b) {
    return std::tie(a.first, a.last) < std::tie(b.first, b.last);
  });
  std::vector<slot_range> out;
  for (auto& r : ranges) {
    // Overlapping or adjacent ranges become one.
    if (!out.empty() && r.first <= out.back().last + 1)
      out.back().last = std::max(out.back().last, r.last);
    else
      out.push_back(r);
  }
  return out;
}

bool add_slot(std::vector<slot_range>& ranges, int64_t slot) {
  // The common case: the newest slot extends the last range.
  if (!ranges.empty() && slot >= ranges.back().first) {
    if (slot <= ranges.back().last)
      return false;
    if (slot == ranges.back().last + 1) {
      ranges.back().last = slot;
      return true;
    }
    ranges.push_back({slot, slot});
    return true;
  }
  for (auto& r : ranges)
    if (slot >= r.first && slot <= r.last)
      return false;
  ranges.push_back({slot, slot});
  ranges = normalise(std::move(ranges));
  return true;
}

bool merge(latent_spore& into, const latent_spore& other,
           const merge_rules& rules) {
  bool changed = false;
  if (compare(other.pointer, into.pointer, rules) > 0) {
    into.pointer = other.pointer;
    changed = true;
  }
  // 0 is "unknown": the minimum of the known values.
  if (other.first_seen_ms != 0 &&
      (into.first_seen_ms == 0 || other.first_seen_ms < into.first_seen_ms)) {
    into.first_seen_ms = other.first_seen_ms;
    changed = true;
  }
  if (!other.activity.empty()) {
    auto all = into.activity;
    all.insert(all.end(), other.activity.begin(), other.activity.end());
    all = normalise(std::move(all));
    if (!(all == into.activity)) {
      into.activity = std::move(all);
      changed = true;
    }
  }
  if (lww_compare(other.summary.stamp, content(other.summary),
                  into.summary.stamp, content(into.summary),
                  rules.lww_tolerance_ms) > 0) {
    into.summary = other.summary;
    changed = true;
  }
  return changed;
}

bool merge(master_spore& into, const master_spore& other,
           const merge_rules& rules) {
  int c = 0;
  if (other.epoch != into.epoch)
    c = other.epoch < into.epoch ? -1 : 1;
  else
    c = lww_compare(other.stamp, content(other), into.stamp, content(into),
                    rules.lww_tolerance_ms);
  if (c <= 0)
    return false;
  into = other;
  return true;
}

bool operator==(const latent_spore& a, const latent_spore& b) {
  return a.node_id == b.node_id && digest(a) == digest(b) &&
         a.activity == b.activity && a.pointer.addresses == b.pointer.addresses;
}

bool operator==(const master_spore& a, const master_spore& b) {
  return digest(a) == digest(b) && a.network_id == b.network_id &&
         a.seeds == b.seeds;
}

std::vector<std::string> merge(spore_set& into, const spore_set& other,
                               const merge_rules& rules) {
  std::vector<std::string> changed;
  for (auto& [id, s] : other) {
    auto [i, added] = into.try_emplace(id, s);
    if (added || merge(i->second, s, rules))
      changed.push_back(id);
  }
  return changed;
}

std::vector<period> periods(const std::vector<slot_range>& ranges,
                            int64_t slot_ms) {
  std::vector<period> out;
  for (auto& r : ranges)
    out.push_back({r.first * slot_ms, (r.last + 1) * slot_ms});
  return out;
}

const char* to_string(rejoin r) {
  return r == rejoin::sync_required ? "sync_required" : "independent";
}

rejoin decide_rejoin(const std::vector<slot_range>& theirs,
                     const std::vector<slot_range>& ours,
                     int64_t apart_since_slot, int64_t back_slot) {
  // Two sorted range lists: look for a common slot at or after the split.
  size_t i = 0;
  size_t j = 0;
  while (i < theirs.size() && j < ours.size()) {
    auto lo = std::max({theirs[i].first, ours[j].first, apart_since_slot});
    auto hi = std::min({theirs[i].last, ours[j].last, back_slot - 1});
    if (lo <= hi)
      return rejoin::sync_required;
    if (theirs[i].last < ours[j].last)
      ++i;
    else
      ++j;
  }
  return rejoin::independent;
}

std::vector<slot_range> section_activity(const spore_set& spores,
                                         const std::vector<std::string>& ids) {
  std::vector<slot_range> all;
  for (auto& id : ids)
    if (auto i = spores.find(id); i != spores.end())
      all.insert(all.end(), i->second.activity.begin(),
                 i->second.activity.end());
  return normalise(std::move(all));
}

} // namespace mycelium::spores
