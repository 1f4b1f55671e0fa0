#include "mycelium/metrics/registry.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>

using namespace mycelium::metrics;

TEST_CASE("counters, gauges and histograms render in the text format") {
  registry r;
  r.get_counter("frames_total", "Frames.", {{"dir", "in"}}).inc(3);
  r.get_counter("frames_total", "Frames.", {{"dir", "out"}}).inc();
  r.get_gauge("members", "Members by state.", {{"state", "alive"}}).set(4);
  auto& h = r.get_histogram("rtt_seconds", "Round trips.", {}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(7);
  auto text = r.render();
  CHECK(text == "# HELP frames_total Frames.\n"
                "# TYPE frames_total counter\n"
                "frames_total{dir=\"in\"} 3\n"
                "frames_total{dir=\"out\"} 1\n"
                "# HELP members Members by state.\n"
                "# TYPE members gauge\n"
                "members{state=\"alive\"} 4\n"
                "# HELP rtt_seconds Round trips.\n"
                "# TYPE rtt_seconds histogram\n"
                "rtt_seconds_bucket{le=\"0.1\"} 1\n"
                "rtt_seconds_bucket{le=\"1\"} 2\n"
                "rtt_seconds_bucket{le=\"+Inf\"} 3\n"
                "rtt_seconds_sum 7.55\n"
                "rtt_seconds_count 3\n");
  CHECK(r.series() == 4);
}

TEST_CASE("the same name and label_set give the same series, in any order") {
  registry r;
  auto& a = r.get_counter("x_total", "X.", {{"a", "1"}, {"b", "2"}});
  auto& b = r.get_counter("x_total", "X.", {{"b", "2"}, {"a", "1"}});
  CHECK(&a == &b);
  CHECK_THROWS_AS(r.get_gauge("x_total", "X."), std::logic_error);
  CHECK_THROWS_AS(r.get_counter("1bad", "X."), std::logic_error);
  CHECK_THROWS_AS(r.get_counter("ok_total", "X.", {{"le", "1"}}),
                  std::logic_error);
  CHECK_THROWS_AS(r.get_counter("ok_total", "X.", {{"a b", "1"}}),
                  std::logic_error);
}

TEST_CASE("label values and help are escaped") {
  registry r;
  r.get_gauge("g", "line\\one\ntwo", {{"v", "a\"b\\c\nd"}}).set(1.5);
  CHECK(r.render() == "# HELP g line\\\\one\\ntwo\n# TYPE g gauge\n"
                      "g{v=\"a\\\"b\\\\c\\nd\"} 1.5\n");
}

TEST_CASE("updates from many threads all count") {
  registry r;
  auto& c = r.get_counter("n_total", "N.");
  auto& g = r.get_gauge("g", "G.");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        g.add(0.5);
      }
    });
  for (auto& t : ts)
    t.join();
  CHECK(c.value() == 40000);
  CHECK(g.value() == 20000);
}

TEST_CASE("samples list values for rules; removed gauges disappear") {
  registry r;
  r.get_gauge("q", "Q.", {{"peer", "a"}}).set(2);
  r.get_histogram("h_seconds", "H.").observe(0.2);
  auto s = r.samples();
  REQUIRE(s.size() == 3);
  CHECK(s[0].name == "h_seconds_count");
  CHECK(s[2].name == "q");
  CHECK(labels_match(s[2].labels, {{"peer", "a"}}));
  CHECK_FALSE(labels_match(s[2].labels, {{"peer", "b"}}));
  r.remove("q", {{"peer", "a"}});
  CHECK(r.samples().size() == 2);
  CHECK(series_name("q", {{"peer", "a"}}) == "q{peer=\"a\"}");
}
