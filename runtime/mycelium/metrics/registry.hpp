#pragma once

/// Metrics for one node: counters, gauges and histograms with labels,
/// exposed in the Prometheus text format (version 0.0.4).
///
/// Registering a series (name + labels) takes a lock and returns a
/// reference that stays valid for the registry's life; updating it is one
/// relaxed atomic operation, so hot paths keep the reference and pay about
/// what a plain atomic increment costs. Every actor of a node shares one
/// registry; the /metrics endpoint renders it from its own thread.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace mycelium::metrics {

/// Label pairs; order does not matter (kept sorted by name).
using label_set = std::vector<std::pair<std::string, std::string>>;

class counter {
public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> v_{0};
};

class gauge {
public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> v_{0};
};

class histogram {
public:
  /// `bounds`: upper bounds of the buckets, ascending (+Inf is implied).
  explicit histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  /// Cumulative counts per bound, then the +Inf count.
  std::vector<uint64_t> cumulative() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

/// Default histogram bounds for durations in seconds (1 ms .. 10 s).
std::vector<double> seconds_buckets();

/// One value as rules see it: `name` is the series name as exposed
/// (histograms give name_count and name_sum).
struct sample {
  std::string name;
  label_set labels;
  double value = 0;
};

/// Names follow Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics,
/// [a-zA-Z_][a-zA-Z0-9_]* for labels.
bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);

class registry {
public:
  /// The series `name{labels}`, created on first use. A name registered
  /// with another type, or an invalid name, is a programming error
  /// (std::logic_error).
  counter& get_counter(const std::string& name, const std::string& help,
                       label_set l = {});
  gauge& get_gauge(const std::string& name, const std::string& help,
                   label_set l = {});
  histogram& get_histogram(const std::string& name, const std::string& help,
                           label_set l = {},
                           std::vector<double> bounds = seconds_buckets());

  /// Removes one gauge series (e.g. a peer that is gone). Callers of this
  /// name must not keep references to its gauges.
  void remove(const std::string& name, label_set l);

  /// The whole registry in the Prometheus text format.
  std::string render() const;
  /// Every current value (counters, gauges, histogram _count and _sum).
  std::vector<sample> samples() const;
  size_t series() const;

private:
  enum class kind { counter, gauge, histogram };
  struct family {
    kind type;
    std::string help;
    std::map<label_set, std::unique_ptr<counter>> counters;
    std::map<label_set, std::unique_ptr<gauge>> gauges;
    std::map<label_set, std::unique_ptr<histogram>> histograms;
  };
  family& family_of(const std::string& name, const std::string& help, kind k);

  mutable std::mutex mu_;
  std::map<std::string, family> families_;
};

/// Prometheus-style matching of label sets: every pair of `want` is in
/// `have`.
bool labels_match(const label_set& have, const label_set& want);

/// "name{a=\"x\",b=\"y\"}" (the exposition form of a series).
std::string series_name(const std::string& name, const label_set& l);

} // namespace mycelium::metrics
