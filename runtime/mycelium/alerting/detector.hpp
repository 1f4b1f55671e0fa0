#pragma once

/// Anomaly detection on one series: Holt's linear forecast (level plus
/// trend, both exponentially smoothed) and a robust deviation score, the
/// distance of a new point from its forecast in units of the median
/// absolute deviation (MAD, scaled to a normal sigma) of recent forecast
/// errors. A point scoring above the threshold is anomalous; it still
/// teaches the model, but clipped to the threshold, so a spike does not
/// drag the forecast and a lasting level shift is learned within a few
/// points.

#include <cstddef>
#include <deque>

namespace mycelium::alerting {

struct detector_config {
  /// Smoothing of level and trend.
  double alpha = 0.3;
  double beta = 0.05;
  /// Forecast errors kept for the MAD.
  size_t window = 60;
  /// Points before any score is given.
  size_t warmup = 20;
  /// Scores above this are anomalous.
  double threshold = 4.5;
  /// Floor of the deviation scale relative to the level (a flat series
  /// would otherwise make every change infinitely anomalous).
  double min_relative_scale = 0.01;
};

class detector {
public:
  explicit detector(detector_config c = {}) : cfg_(c) {}

  /// Scores `x` against the forecast (0 during warm-up) and learns it.
  double update(double x);
  bool anomalous(double score) const { return score > cfg_.threshold; }
  double forecast() const { return level_ + trend_; }
  size_t points() const { return n_; }

private:
  double scale() const;

  detector_config cfg_;
  size_t n_ = 0;
  double level_ = 0;
  double trend_ = 0;
  std::deque<double> errors_;
};

} // namespace mycelium::alerting
