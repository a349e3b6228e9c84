// Generator::get_state / set_state: the engine's state as a tensor of words.
//
// Layout (int64 words): magic, version, seed, has_cached_normal, the cached
// normal's bits, the number of engine words n, then the n words of the
// engine's standard textual representation (C++ [rand.req.eng] guarantees
// that reading it back reproduces the engine exactly).
#include <bit>
#include <cmath>
#include <locale>
#include <sstream>
#include <vector>

#include "descent/error.h"
#include "descent/tensor/generator.h"
#include "descent/tensor/ops.h"

namespace descent {

namespace {
constexpr int64_t kMagic = 0x4e45475444534544;  // "DESDTGEN" read little-endian
constexpr int64_t kVersion = 1;
constexpr std::size_t kHeader = 6;

std::vector<uint64_t> engine_words(const std::mt19937_64& engine) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << engine;
  std::istringstream in(out.str());
  in.imbue(std::locale::classic());
  std::vector<uint64_t> words;
  for (uint64_t w; in >> w;) words.push_back(w);
  return words;
}

// How many words this build's engine writes (the state size, plus the
// position in the block on standard libraries that write it).
std::size_t engine_word_count() {
  static const std::size_t count = engine_words(std::mt19937_64()).size();
  return count;
}
}  // namespace

Tensor Generator::get_state() const {
  std::vector<uint64_t> words = engine_words(engine_);
  std::vector<int64_t> state{kMagic,
                             kVersion,
                             static_cast<int64_t>(seed_),
                             has_cached_normal_ ? 1 : 0,
                             std::bit_cast<int64_t>(cached_normal_),
                             static_cast<int64_t>(words.size())};
  for (uint64_t w : words) state.push_back(static_cast<int64_t>(w));
  return tensor(state, {static_cast<int64_t>(state.size())});
}

Generator& Generator::set_state(const Tensor& state) {
  if (!state.defined()) raise<ValueError>("Generator.set_state: 'new_state' is an undefined tensor");
  if (state.is_sparse() || state.dtype() != kInt64)
    raise<TypeError>("Generator.set_state: 'new_state' must be a dense int64 tensor from get_state(), but got ",
                     state.is_sparse() ? "a sparse " : "a ", to_string(state.dtype()), " tensor");
  const std::size_t expected = kHeader + engine_word_count();
  if (state.dim() != 1 || static_cast<std::size_t>(state.numel()) != expected)
    raise<ValueError>("Generator.set_state: 'new_state' must be a 1-D tensor of ", expected,
                      " elements from get_state(), but got shape ", shape_to_string(state.sizes()));
  std::vector<int64_t> s = state.to_vector<int64_t>();
  if (s[0] != kMagic || s[1] != kVersion)
    raise<ValueError>("Generator.set_state: 'new_state' is not a generator state (header ", s[0], ", ", s[1],
                      "; expected ", kMagic, ", ", kVersion, ")");
  if (s[3] != 0 && s[3] != 1)
    raise<ValueError>("Generator.set_state: 'new_state' has a cached-normal flag of ", s[3], " (must be 0 or 1)");
  const double cached = std::bit_cast<double>(s[4]);
  if (s[3] == 1 && !std::isfinite(cached))
    raise<ValueError>("Generator.set_state: 'new_state' caches a non-finite normal value ", cached);
  if (s[5] != static_cast<int64_t>(engine_word_count()))
    raise<ValueError>("Generator.set_state: 'new_state' holds ", s[5], " engine words, expected ",
                      engine_word_count());
  std::ostringstream text;
  text.imbue(std::locale::classic());
  for (std::size_t i = kHeader; i < s.size(); ++i) text << static_cast<uint64_t>(s[i]) << ' ';
  std::istringstream in(text.str());
  in.imbue(std::locale::classic());
  std::mt19937_64 engine;
  in >> engine;
  if (in.fail()) raise<ValueError>("Generator.set_state: 'new_state' holds an invalid engine state");
  engine_ = engine;
  seed_ = static_cast<uint64_t>(s[2]);
  has_cached_normal_ = s[3] == 1;
  cached_normal_ = has_cached_normal_ ? cached : 0.0;
  return *this;
}

}  // namespace descent
