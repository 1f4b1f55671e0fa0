#pragma once

/// Seeded pseudo-random generator for the pure cores.
///
/// xoshiro256** seeded through splitmix64: fast, small, and identical on every
/// platform, so a simulation replays exactly from its seed. Standard library
/// distributions are implementation-defined, so the helpers below do their own
/// mapping onto ranges.

#include <cstdint>

namespace mycelium {

class prng {
public:
  using result_type = uint64_t;

  explicit prng(uint64_t seed) { reseed(seed); }

  /// Restarts the sequence from `seed`.
  void reseed(uint64_t seed) {
    for (auto& word : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  /// Next 64 random bits.
  uint64_t operator()() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform double in [0, 1).
  double next_unit() {
    return static_cast<double>((*this)() >> 11) * 0x1.0p-53;
  }

  /// Uniform integer in [0, bound); `bound` must be positive.
  uint64_t next_below(uint64_t bound) { return (*this)() % bound; }

  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }

private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t s_[4];
};

} // namespace mycelium
