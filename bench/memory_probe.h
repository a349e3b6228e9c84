#pragma once
// STREAM-style memory-bandwidth kernels, shared by bench/bandwidth and
// bench/optim_step so every optimizer figure is reported against a roof
// measured in the same run. Each kernel is split over descent's own thread
// pool, as the optimizer kernels are.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "descent/devices/parallel.h"

namespace bench {

using Clock = std::chrono::steady_clock;

// Median of `repeats` timings (seconds) of fn after `warmup` untimed calls.
inline double median_seconds(int warmup, int repeats, const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    auto start = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Arrays {
  std::vector<float> a, b, c, d, e;
  explicit Arrays(int64_t n) : a(n, 1.0f), b(n, 2.0f), c(n, 0.5f), d(n, 0.25f), e(n, 0.125f) {}
  int64_t size() const { return static_cast<int64_t>(a.size()); }
};

inline void for_range(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  descent::parallel_for(0, n, 1 << 16, body);
}

// Bytes moved per element by each kernel (reads + writes, 4-byte floats).
inline constexpr double kCopyBytes = 8, kScaleBytes = 8, kAddBytes = 12, kTriadBytes = 12;

inline void copy(Arrays& x) {
  for_range(x.size(), [&](int64_t lo, int64_t hi) { std::copy(x.a.begin() + lo, x.a.begin() + hi, x.c.begin() + lo); });
}
inline void scale(Arrays& x) {
  for_range(x.size(), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) x.b[i] = 3.0f * x.c[i];
  });
}
inline void add(Arrays& x) {
  for_range(x.size(), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) x.c[i] = x.a[i] + x.b[i];
  });
}
inline void triad(Arrays& x) {
  for_range(x.size(), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) x.a[i] = x.b[i] + 3.0f * x.c[i];
  });
}
// The traffic of an optimizer step with `States` state arrays: read param,
// grad and each state; write param and the states in place; trivial
// arithmetic. What the hardware allows for that update (Adam: 2, SGD with
// momentum: 1, RMSprop centered with momentum: 3).
template <int States>
void optimizer_pattern(Arrays& x) {
  static_assert(States >= 1 && States <= 3);
  for_range(x.size(), [&](int64_t lo, int64_t hi) {
    float* p = x.a.data();
    const float* g = x.b.data();
    float* s[3] = {x.c.data(), x.d.data(), x.e.data()};
    for (int64_t i = lo; i < hi; ++i) {
      float sum = 0.0f;
      for (int k = 0; k < States; ++k) {
        s[k][i] = 0.9f * s[k][i] + g[i];
        sum += s[k][i];
      }
      p[i] = p[i] - 1e-9f * sum;
    }
  });
}
// Bytes per param element, `states` state elements per param element.
inline constexpr double optimizer_bytes(double states) { return 12.0 + 8.0 * states; }

// The traffic Adafactor's data dependences force, as three sweeps: the sums
// of θ² and g² (and, unfactored, v = lerp(v, g²) written), the sum of U²
// (U needs the new second moments), then θ -= k·U. Factored: 5 arrays read
// and 1 written, 24 bytes per element; unfactored (the state v full size):
// 8 read and 2 written, 40 bytes. The row and column vectors of a factored
// matrix are O(R + C) and stay in cache.
template <bool Factored>
void adafactor_pattern(Arrays& x) {
  float* p = x.a.data();
  const float* g = x.b.data();
  float* v = x.c.data();
  std::atomic<double> sums{0};
  for_range(x.size(), [&](int64_t lo, int64_t hi) {
    float sum = 0.0f;
    for (int64_t i = lo; i < hi; ++i) {
      sum += p[i] * p[i] + g[i] * g[i];
      if constexpr (!Factored) v[i] = 0.9f * v[i] + 0.1f * g[i] * g[i];
    }
    sums += sum;
  });
  for_range(x.size(), [&](int64_t lo, int64_t hi) {
    float sum = 0.0f;
    for (int64_t i = lo; i < hi; ++i) {
      const float u = Factored ? g[i] : g[i] * v[i];
      sum += u * u;
    }
    sums += sum;
  });
  const float k = static_cast<float>(1e-9 / (1.0 + sums.load()));
  for_range(x.size(), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) p[i] -= k * (Factored ? g[i] : g[i] * v[i]);
  });
}
inline constexpr double adafactor_bytes(bool factored) { return factored ? 24.0 : 40.0; }

using Pattern = void (*)(Arrays&);

// GB/s of one run of a kernel on arrays of n floats.
inline double gbps_once(Arrays& x, Pattern kernel, double bytes_per_element) {
  const auto start = Clock::now();
  kernel(x);
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  return bytes_per_element * static_cast<double>(x.size()) / s / 1e9;
}

// GB/s of one kernel on arrays of n floats, median of `repeats`.
inline double gbps(Arrays& x, void (*kernel)(Arrays&), double bytes_per_element, int repeats = 15) {
  double s = median_seconds(2, repeats, [&] { kernel(x); });
  return bytes_per_element * static_cast<double>(x.size()) / s / 1e9;
}

// The probe kernel with the traffic of an optimizer holding `states` arrays.
inline Pattern optimizer_pattern_for(int states) {
  switch (states) {
    case 1: return optimizer_pattern<1>;
    case 2: return optimizer_pattern<2>;
    case 3: return optimizer_pattern<3>;
    default: throw std::invalid_argument("optimizer_pattern_for: no probe for " + std::to_string(states) + " states");
  }
}

// A step's median time and the roof it is measured against, from the same
// rounds. A roof probed once per run moved 93-165% between runs on a shared
// machine, because the neighbours' load changed between the probe and the
// kernel. Interleaving them makes both see the same load; the probe's best
// round is the roof (what the memory allowed at the quietest moment), and
// `spread` (interquartile range / median of the step times) says how noisy
// the rounds were.
struct RoofedTiming {
  double seconds = 0;      // median step time
  double spread = 0;       // (q3 - q1) / median of the step times
  double roof_gbps = 0;    // the probe's best round
};

// `probe` runs the roof's traffic once and returns its GB/s.
inline RoofedTiming time_against_roof(const std::function<double()>& probe, int warmup, int repeats,
                                      const std::function<void()>& step) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> steps;
  double best_probe = 0;
  for (int round = 0; round < repeats; ++round) {
    best_probe = std::max(best_probe, probe());
    step();  // untimed: brings the step's data back into cache after the probe evicted it
    const auto start = Clock::now();
    step();
    steps.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(steps.begin(), steps.end());
  const auto at = [&](double q) { return steps[static_cast<size_t>(q * static_cast<double>(steps.size() - 1) + 0.5)]; };
  const double median = at(0.5);
  return {median, (at(0.75) - at(0.25)) / median, best_probe};
}

}  // namespace bench
