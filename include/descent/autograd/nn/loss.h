#pragma once
// Loss modules (torch.nn.MSELoss, torch.nn.CrossEntropyLoss): call them
// with (input, target).
#include <string>

#include "descent/autograd/nn/module.h"

namespace descent::nn {

/// Mean squared error between input and target (reduction mean, sum or none).
class MSELoss : public Cloneable<MSELoss> {
 public:
  // reduction: "mean" (default), "sum" or "none".
  explicit MSELoss(std::string reduction = "mean");
  void reset() override {}
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string name() const override { return "MSELoss"; }

  std::string reduction;
};

/// CrossEntropyLoss's settings: class weights, ignore_index, reduction and label_smoothing.
struct CrossEntropyLossOptions {
  Tensor weight{};  // per-class weights [C]; undefined: all 1
  int64_t ignore_index = -100;
  std::string reduction = "mean";
  double label_smoothing = 0.0;
};

/// Cross-entropy of logits against class indices or probabilities, with optional label smoothing, weights and ignore_index.
class CrossEntropyLoss : public Cloneable<CrossEntropyLoss> {
 public:
  explicit CrossEntropyLoss(CrossEntropyLossOptions options = {});
  void reset() override;
  // input: logits [N, C, ...] or [C]; target: class indices (int64) or class probabilities.
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string name() const override { return "CrossEntropyLoss"; }

  Tensor weight;  // a buffer, as in PyTorch
  int64_t ignore_index;
  std::string reduction;
  double label_smoothing;
};

}  // namespace descent::nn
