#include "metrics_bench.hpp"

#include "common.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/system/metrics_endpoint.hpp"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>

namespace mycelium::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
      .count();
}

/// Nanoseconds per call of `fn` over `n` calls.
template <class F>
double ns_per_op(uint64_t n, F fn) {
  auto t0 = clock_type::now();
  for (uint64_t i = 0; i < n; ++i)
    fn();
  return std::chrono::duration<double, std::nano>(clock_type::now() - t0)
             .count() /
         static_cast<double>(n);
}

} // namespace

int run_metrics(bool as_json, int series, int scrapes) {
  // Families of 100 series each, 60% counters, 40% gauges, labelled like a
  // node's per-peer series.
  auto reg = std::make_shared<metrics::registry>();
  int families = (series + 99) / 100;
  int made = 0;
  for (int f = 0; f < families && made < series; ++f) {
    for (int p = 0; p < 100 && made < series; ++p, ++made) {
      metrics::label_set l{{"peer", "node-" + std::to_string(p)},
                           {"reason", "r" + std::to_string(f % 7)}};
      if (f % 5 < 3)
        reg->get_counter("bench_family_" + std::to_string(f) + "_total",
                         "A benchmark counter family.", l)
            .inc(static_cast<uint64_t>(p * 1000 + f));
      else
        reg->get_gauge("bench_family_" + std::to_string(f),
                       "A benchmark gauge family.", l)
            .set(p * 0.5 + f);
    }
  }
  auto scraped_series = reg->series();
  system::metrics_endpoint endpoint;
  config::endpoint at{"127.0.0.1", free_port()};
  auto failed = endpoint.start(at, reg);
  if (!failed.empty()) {
    std::cerr << "mycelium-bench: " << failed << "\n";
    return 1;
  }
  httplib::Client cli(at.host, at.port);
  cli.set_keep_alive(true);
  std::vector<double> scrape_ms;
  std::vector<double> render_ms;
  size_t bytes = 0;
  for (int i = 0; i < scrapes + 5; ++i) {
    auto t0 = clock_type::now();
    auto res = cli.Get("/metrics");
    auto took = ms_since(t0);
    if (!res || res->status != 200) {
      std::cerr << "mycelium-bench: scrape failed\n";
      return 1;
    }
    bytes = res->body.size();
    if (i >= 5) // warm-up
      scrape_ms.push_back(took);
    auto r0 = clock_type::now();
    auto text = reg->render();
    render_ms.push_back(ms_since(r0));
  }
  endpoint.stop();
  // One counter increment on a kept reference vs a plain atomic.
  const uint64_t n = 50'000'000;
  auto& c = reg->get_counter("bench_hot_total", "Hot path counter.");
  std::atomic<uint64_t> plain{0};
  auto atomic_ns =
      ns_per_op(n, [&] { plain.fetch_add(1, std::memory_order_relaxed); });
  auto counter_ns = ns_per_op(n, [&] { c.inc(); });
  // Looking the series up by name and labels on every increment.
  auto lookup_ns = ns_per_op(1'000'000, [&] {
    reg->get_counter("bench_family_0_total", "A benchmark counter family.",
                     {{"peer", "node-7"}, {"reason", "r0"}})
        .inc();
  });
  if (c.value() != n || plain.load() != n)
    return 1;
  auto p50 = percentile(scrape_ms, 0.5);
  auto p99 = percentile(scrape_ms, 0.99);
  json out{{"scenario", "metrics"},
           {"series", scraped_series},
           {"scrapes", scrapes},
           {"scrape_bytes", bytes},
           {"scrape_p50_ms", p50},
           {"scrape_p99_ms", p99},
           {"render_p50_ms", percentile(render_ms, 0.5)},
           {"counter_inc_ns", counter_ns},
           {"baseline_atomic_inc_ns", atomic_ns},
           {"ratio", counter_ns / atomic_ns},
           {"lookup_and_inc_ns", lookup_ns},
           {"target_scrape_p99_ms", 100}};
  if (as_json) {
    std::cout << out.dump() << std::endl;
  } else {
    std::printf("metrics: %zu series, %zu bytes per scrape\n"
                "  scrape p50 %.2f ms, p99 %.2f ms (target p99 <= 100 ms); "
                "render alone p50 %.2f ms\n"
                "  counter increment %.2f ns vs plain atomic %.2f ns "
                "(ratio %.2f); lookup by labels + increment %.0f ns\n",
                scraped_series, bytes, p50, p99, percentile(render_ms, 0.5),
                counter_ns, atomic_ns, counter_ns / atomic_ns, lookup_ns);
  }
  return p99 <= 100 ? 0 : 1;
}

} // namespace mycelium::bench
