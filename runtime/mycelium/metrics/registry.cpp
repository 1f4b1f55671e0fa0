#include "mycelium/metrics/registry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace mycelium::metrics {

namespace {

void atomic_add(std::atomic<double>& a, double d) {
  auto cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed))
    ;
}

/// Go's float formatting as Prometheus reads it.
void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
    out += std::to_string(static_cast<int64_t>(v));
  } else {
    // The shortest form that reads back as the same double.
    char buf[32];
    for (int precision : {15, 16, 17}) {
      std::snprintf(buf, sizeof buf, "%.*g", precision, v);
      if (std::strtod(buf, nullptr) == v)
        break;
    }
    out += buf;
  }
}

void append_escaped(std::string& out, const std::string& s, bool quotes) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quotes)
      out += "\\\"";
    else
      out += c;
  }
}

void append_labels(std::string& out, const label_set& l,
                   const std::pair<std::string, std::string>* extra) {
  if (l.empty() && extra == nullptr)
    return;
  out += '{';
  bool first = true;
  auto one = [&](const std::pair<std::string, std::string>& p) {
    if (!first)
      out += ',';
    first = false;
    out += p.first;
    out += "=\"";
    append_escaped(out, p.second, true);
    out += '"';
  };
  for (auto& p : l)
    one(p);
  if (extra != nullptr)
    one(*extra);
  out += '}';
}

label_set normalized(label_set l) {
  std::sort(l.begin(), l.end());
  for (size_t i = 0; i < l.size(); ++i) {
    if (!valid_label_name(l[i].first) || l[i].first == "le")
      throw std::logic_error("invalid label name '" + l[i].first + "'");
    if (i > 0 && l[i].first == l[i - 1].first)
      throw std::logic_error("label '" + l[i].first + "' given twice");
  }
  return l;
}

bool name_char(char c, bool first, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

bool valid_name(const std::string& name, bool colon) {
  if (name.empty())
    return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, colon))
      return false;
  return true;
}

} // namespace

void gauge::add(double d) {
  atomic_add(v_, d);
}

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::logic_error("histogram bounds must ascend");
  for (size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) {
  auto i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> histogram::cumulative() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

std::vector<double> seconds_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,  0.5,    1,     2.5,  5,     10};
}

bool valid_metric_name(const std::string& name) {
  return valid_name(name, true);
}

bool valid_label_name(const std::string& name) {
  return valid_name(name, false) && name.rfind("__", 0) != 0;
}

registry::family& registry::family_of(const std::string& name,
                                      const std::string& help, kind k) {
  if (!valid_metric_name(name))
    throw std::logic_error("invalid metric name '" + name + "'");
  auto [it, fresh] = families_.try_emplace(name);
  if (fresh) {
    it->second.type = k;
    it->second.help = help;
  } else if (it->second.type != k) {
    throw std::logic_error("metric '" + name +
                           "' already registered with another type");
  }
  return it->second;
}

counter& registry::get_counter(const std::string& name, const std::string& help,
                               label_set l) {
  auto key = normalized(std::move(l));
  std::lock_guard<std::mutex> lock{mu_};
  auto& slot = family_of(name, help, kind::counter).counters[key];
  if (!slot)
    slot = std::make_unique<counter>();
  return *slot;
}

gauge& registry::get_gauge(const std::string& name, const std::string& help,
                           label_set l) {
  auto key = normalized(std::move(l));
  std::lock_guard<std::mutex> lock{mu_};
  auto& slot = family_of(name, help, kind::gauge).gauges[key];
  if (!slot)
    slot = std::make_unique<gauge>();
  return *slot;
}

histogram& registry::get_histogram(const std::string& name,
                                   const std::string& help, label_set l,
                                   std::vector<double> bounds) {
  auto key = normalized(std::move(l));
  std::lock_guard<std::mutex> lock{mu_};
  auto& slot = family_of(name, help, kind::histogram).histograms[key];
  if (!slot)
    slot = std::make_unique<histogram>(std::move(bounds));
  return *slot;
}

void registry::remove(const std::string& name, label_set l) {
  auto key = normalized(std::move(l));
  std::lock_guard<std::mutex> lock{mu_};
  auto it = families_.find(name);
  if (it != families_.end())
    it->second.gauges.erase(key);
}

std::string registry::render() const {
  std::string out;
  std::lock_guard<std::mutex> lock{mu_};
  out.reserve(families_.size() * 256);
  static const char* const type_names[] = {"counter", "gauge", "histogram"};
  for (auto& [name, f] : families_) {
    if (f.counters.empty() && f.gauges.empty() && f.histograms.empty())
      continue;
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_names[static_cast<int>(f.type)];
    out += '\n';
    for (auto& [l, c] : f.counters) {
      out += name;
      append_labels(out, l, nullptr);
      out += ' ';
      append_number(out, static_cast<double>(c->value()));
      out += '\n';
    }
    for (auto& [l, g] : f.gauges) {
      out += name;
      append_labels(out, l, nullptr);
      out += ' ';
      append_number(out, g->value());
      out += '\n';
    }
    for (auto& [l, h] : f.histograms) {
      auto counts = h->cumulative();
      for (size_t i = 0; i < counts.size(); ++i) {
        std::string le;
        if (i < h->bounds().size())
          append_number(le, h->bounds()[i]);
        else
          le = "+Inf";
        std::pair<std::string, std::string> extra{"le", le};
        out += name;
        out += "_bucket";
        append_labels(out, l, &extra);
        out += ' ';
        append_number(out, static_cast<double>(counts[i]));
        out += '\n';
      }
      out += name;
      out += "_sum";
      append_labels(out, l, nullptr);
      out += ' ';
      append_number(out, h->sum());
      out += '\n';
      out += name;
      out += "_count";
      append_labels(out, l, nullptr);
      out += ' ';
      append_number(out, static_cast<double>(counts.back()));
      out += '\n';
    }
  }
  return out;
}

std::vector<sample> registry::samples() const {
  std::vector<sample> out;
  std::lock_guard<std::mutex> lock{mu_};
  for (auto& [name, f] : families_) {
    for (auto& [l, c] : f.counters)
      out.push_back({name, l, static_cast<double>(c->value())});
    for (auto& [l, g] : f.gauges)
      out.push_back({name, l, g->value()});
    for (auto& [l, h] : f.histograms) {
      out.push_back({name + "_count", l, static_cast<double>(h->count())});
      out.push_back({name + "_sum", l, h->sum()});
    }
  }
  return out;
}

size_t registry::series() const {
  std::lock_guard<std::mutex> lock{mu_};
  size_t n = 0;
  for (auto& [name, f] : families_)
    n += f.counters.size() + f.gauges.size() + f.histograms.size();
  return n;
}

bool labels_match(const label_set& have, const label_set& want) {
  for (auto& w : want)
    if (std::find(have.begin(), have.end(), w) == have.end())
      return false;
  return true;
}

std::string series_name(const std::string& name, const label_set& l) {
  std::string out = name;
  append_labels(out, l, nullptr);
  return out;
}

} // namespace mycelium::metrics
