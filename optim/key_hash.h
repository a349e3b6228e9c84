#pragma once
// Keyed hashing for tables whose keys can come from untrusted input (dict
// keys of a checkpoint, parameter ids of a state dict). std::hash<int64_t> is
// the identity, so keys that are multiples of the bucket count all land in
// one bucket, and std::hash<std::string> has a fixed seed, so colliding
// strings can be precomputed; either turns a table into a linear list. These
// hashes are SipHash-1-3 under a key drawn at random once per process: which
// keys collide cannot be known from outside. Private to descent.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "descent/optim/value.h"

namespace descent::detail {

uint64_t keyed_hash(int64_t key) noexcept;
uint64_t keyed_hash(std::string_view bytes) noexcept;
uint64_t keyed_hash(const Key& key) noexcept;

// For std::unordered_map / unordered_set.
struct KeyedHash {
  std::size_t operator()(int64_t key) const noexcept { return static_cast<std::size_t>(keyed_hash(key)); }
  std::size_t operator()(const Key& key) const noexcept { return static_cast<std::size_t>(keyed_hash(key)); }
};

}  // namespace descent::detail
