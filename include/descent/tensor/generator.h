#pragma once
// Seedable random number generation (torch.Generator / torch.manual_seed).
// The stream is descent's own (a 64-bit Mersenne Twister); it is reproducible
// across runs and platforms but does not reproduce PyTorch's random values.
#include <cstdint>
#include <random>

namespace descent {

class Tensor;

/// A seeded random-number stream for the random ops; get_state/set_state round-trip it, so a run that shuffles can resume exactly.
class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) { manual_seed(seed); }
  Generator& manual_seed(uint64_t seed) {
    seed_ = seed;
    engine_.seed(seed);
    return *this;
  }
  uint64_t initial_seed() const { return seed_; }
  uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double next_double() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform in [0, 1) with 24 random bits, exactly representable as float.
  float next_float() { return static_cast<float>(engine_() >> 40) * 0x1.0p-24f; }
  // Standard normal (Box-Muller, caching the second value).
  double next_normal();

  // The whole state (engine, seed, cached normal) as a 1-D int64 CPU tensor,
  // for checkpoints (torch.Generator.get_state; PyTorch's is a uint8 tensor,
  // descent has no uint8 dtype). set_state restores it exactly, so the draws
  // that followed get_state repeat; a tensor that is not such a state raises
  // TypeError (dtype/layout) or ValueError (size, header, contents).
  Tensor get_state() const;
  Generator& set_state(const Tensor& state);

 private:
  std::mt19937_64 engine_;
  uint64_t seed_ = 0;
  bool has_cached_normal_ = false;
  double cached_normal_ = 0.0;
};

// The process-wide generator used when none is passed.
Generator& default_generator();
// Seeds the default generator (torch.manual_seed).
void manual_seed(uint64_t seed);

}  // namespace descent
