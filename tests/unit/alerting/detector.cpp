#include "mycelium/alerting/detector.hpp"
#include "mycelium/core/prng.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <vector>

using namespace mycelium;
using namespace mycelium::alerting;

namespace {

double gaussian(prng& rng) {
  // Box-Muller.
  double u = 1.0 - rng.next_unit();
  double v = rng.next_unit();
  return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
}

struct rates {
  double detection = 0;
  double false_positive = 0;
};

/// A trending, seasonal, noisy series with `spikes` injected anomalies of
/// `size` (in noise sigmas); returns the detector's rates over `seeds`.
rates measure(int seeds, int length, int spikes, double size) {
  int detected = 0;
  int injected = 0;
  int false_pos = 0;
  int normal = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    prng rng(static_cast<uint64_t>(seed));
    std::set<int> at;
    while (static_cast<int>(at.size()) < spikes)
      at.insert(50 + static_cast<int>(
                         rng.next_below(static_cast<uint64_t>(length - 50))));
    detector d;
    for (int t = 0; t < length; ++t) {
      double sigma = 2;
      double x = 100 + 0.05 * t + 10 * std::sin(2 * M_PI * t / 200.0) +
                 sigma * gaussian(rng);
      bool spike = at.count(t) != 0;
      if (spike)
        x += (rng.next_below(2) == 0 ? 1 : -1) * size * sigma;
      bool flagged = d.anomalous(d.update(x));
      if (t < 50)
        continue; // warm-up
      if (spike) {
        ++injected;
        detected += flagged;
      } else {
        ++normal;
        false_pos += flagged;
      }
    }
  }
  return {static_cast<double>(detected) / injected,
          static_cast<double>(false_pos) / normal};
}

} // namespace

TEST_CASE("the detector finds injected spikes in a seasonal trending series") {
  auto r = measure(20, 2000, 20, 10);
  MESSAGE("spikes of 10 sigma: detection rate "
          << r.detection << ", false-positive rate " << r.false_positive);
  CHECK(r.detection >= 0.98);
  CHECK(r.false_positive <= 0.001);
  auto small = measure(20, 2000, 20, 6);
  MESSAGE("spikes of 6 sigma: detection rate " << small.detection
                                               << ", false-positive rate "
                                               << small.false_positive);
  CHECK(small.detection >= 0.6);
  CHECK(small.false_positive <= 0.001);
}

TEST_CASE("a lasting level shift is flagged, then learned") {
  detector d;
  prng rng(7);
  int flagged_after = 0;
  int first_quiet = -1;
  for (int t = 0; t < 400; ++t) {
    double x = (t < 200 ? 50 : 80) + gaussian(rng);
    bool flagged = d.anomalous(d.update(x));
    if (t >= 200 && flagged)
      ++flagged_after;
    if (t >= 200 && !flagged && first_quiet < 0)
      first_quiet = t;
    if (t >= 300)
      CHECK_FALSE(flagged);
  }
  CHECK(flagged_after >= 1);
  MESSAGE("level shift of 30 sigma: flagged for " << flagged_after
                                                  << " points");
}

TEST_CASE("a flat series does not make every small change anomalous") {
  detector d;
  for (int t = 0; t < 100; ++t)
    d.update(1000);
  CHECK_FALSE(d.anomalous(d.update(1005))); // 0.5%
  CHECK(d.anomalous(d.update(2000)));
}
