#include "mycelium/alerting/detector.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mycelium::alerting {

double detector::scale() const {
  std::vector<double> abs(errors_.begin(), errors_.end());
  for (auto& e : abs)
    e = std::fabs(e);
  auto mid = abs.begin() + static_cast<long>(abs.size() / 2);
  std::nth_element(abs.begin(), mid, abs.end());
  double mad = abs.empty() ? 0 : *mid;
  double floor = cfg_.min_relative_scale * std::max(std::fabs(level_), 1e-9);
  return std::max(1.4826 * mad, floor);
}

double detector::update(double x) {
  ++n_;
  if (n_ == 1) {
    level_ = x;
    return 0;
  }
  double predicted = forecast();
  double error = x - predicted;
  double score = 0;
  bool scoring = n_ > cfg_.warmup && !errors_.empty();
  if (scoring)
    score = std::fabs(error) / scale();
  // Learn from the point, clipped to the threshold band when anomalous.
  double learned = x;
  if (scoring && score > cfg_.threshold)
    learned = predicted + std::copysign(cfg_.threshold * scale(), error);
  double previous = level_;
  level_ = cfg_.alpha * learned + (1 - cfg_.alpha) * (level_ + trend_);
  trend_ = cfg_.beta * (level_ - previous) + (1 - cfg_.beta) * trend_;
  errors_.push_back(learned - predicted);
  if (errors_.size() > cfg_.window)
    errors_.pop_front();
  return score;
}

} // namespace mycelium::alerting
