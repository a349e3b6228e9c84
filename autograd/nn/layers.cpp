// The layers: Linear, the activations, Sequential, Embedding.
#include <cmath>

#include "descent/autograd/nn/activation.h"
#include "descent/autograd/nn/container.h"
#include "descent/autograd/nn/embedding.h"
#include "descent/autograd/nn/functional.h"
#include "descent/autograd/nn/init.h"
#include "descent/autograd/nn/linear.h"
#include "descent/tensor/ops.h"

namespace descent::nn {

namespace {
void check_size(const char* module, const char* what, int64_t value) {
  if (value < 0) raise<ValueError>(module, ": ", what, " must be non-negative (got ", value, ")");
}
}  // namespace

// ---- Linear ----
Linear::Linear(int64_t in, int64_t out, LinearOptions options)
    : in_features(in), out_features(out), options_(options) {
  check_size("Linear", "in_features", in);
  check_size("Linear", "out_features", out);
  reset();
  reset_parameters(options_.generator);
}

void Linear::reset() {
  TensorOptions o{.dtype = options_.dtype, .device = options_.device};
  weight = register_parameter("weight", empty({out_features, in_features}, o));
  bias = options_.bias ? register_parameter("bias", empty({out_features}, o)) : Tensor();
}

void Linear::reset_parameters(Generator* generator) {
  // PyTorch's default: kaiming_uniform(a = sqrt(5)) for the weight, U(+-1/sqrt(fan_in)) for the bias.
  init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", generator);
  if (bias.defined()) {
    double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound, generator);
  }
}

Tensor Linear::forward(const Tensor& input) { return functional::linear(input, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

// ---- activations ----
Tensor ReLU::forward(const Tensor& input) { return relu(input); }
Tensor Sigmoid::forward(const Tensor& input) { return sigmoid(input); }
Tensor Tanh::forward(const Tensor& input) { return tanh(input); }

// ---- Sequential ----
Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (auto& m : modules_) x = m->forward(x);
  return x;
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t index) const {
  if (index >= modules_.size())
    raise<IndexError>("Sequential: index ", index, " is out of range (", modules_.size(), " modules)");
  return modules_[index];
}

std::shared_ptr<Module> Sequential::clone() const {
  auto copy = std::make_shared<Sequential>();
  for (const auto& m : modules_) copy->push_back(m->clone());
  copy->train(is_training());
  return copy;
}

// ---- Embedding ----
Embedding::Embedding(int64_t num, int64_t dim, EmbeddingOptions options)
    : num_embeddings(num), embedding_dim(dim), sparse(options.sparse), options_(options) {
  check_size("Embedding", "num_embeddings", num);
  check_size("Embedding", "embedding_dim", dim);
  if (options.padding_idx) {
    int64_t p = *options.padding_idx;
    if (p >= num || p < -num)
      raise<ValueError>("Embedding: padding_idx must be within num_embeddings (got ", p, " for ", num,
                        " embeddings)");
    padding_idx = p < 0 ? p + num : p;
  }
  reset();
  reset_parameters(options_.generator);
}

void Embedding::reset() {
  weight = register_parameter(
      "weight", empty({num_embeddings, embedding_dim}, {.dtype = options_.dtype, .device = options_.device}));
}

void Embedding::reset_parameters(Generator* generator) {
  init::normal_(weight, 0.0, 1.0, generator);
  if (padding_idx) init::zeros_(weight.select(0, *padding_idx));
}

Tensor Embedding::forward(const Tensor& input) {
  return functional::embedding(input, weight, padding_idx, sparse);
}

std::string Embedding::extra_repr() const {
  std::string s = std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim);
  if (padding_idx) s += ", padding_idx=" + std::to_string(*padding_idx);
  if (sparse) s += ", sparse=True";
  return s;
}

}  // namespace descent::nn
