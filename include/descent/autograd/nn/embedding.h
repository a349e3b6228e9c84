#pragma once
// nn::Embedding — a lookup table of num_embeddings vectors (torch.nn.Embedding).
#include <optional>

#include "descent/autograd/nn/module.h"

namespace descent::nn {

/// Embedding's settings: padding_idx, sparse gradients, dtype and device.
struct EmbeddingOptions {
  // This row is initialised to zeros and never receives a gradient (negative counts from the end).
  std::optional<int64_t> padding_idx{};
  // weight's gradient is a sparse COO tensor (for SparseAdam, sparse SGD/Adagrad).
  bool sparse = false;
  std::optional<Dtype> dtype{};
  std::optional<Device> device{};
  Generator* generator = nullptr;
};

/// A lookup table from integer indices to learnable rows; its gradient can be sparse.
class Embedding : public Cloneable<Embedding> {
 public:
  // weight [num_embeddings, embedding_dim] ~ N(0, 1).
  Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions options = {});
  void reset() override;
  void reset_parameters(Generator* generator = nullptr);
  // input: int64 indices of any shape; output: input.shape + [embedding_dim].
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Embedding"; }
  std::string extra_repr() const override;

  int64_t num_embeddings;
  int64_t embedding_dim;
  std::optional<int64_t> padding_idx;  // normalised to [0, num_embeddings)
  bool sparse;
  Tensor weight;

 private:
  EmbeddingOptions options_;
};

}  // namespace descent::nn
