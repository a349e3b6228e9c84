// nn::functional: activations, softmax, embedding, batch norm and losses.
// Softmax and embedding have their own nodes; the rest are compositions of
// differentiable ops, so their gradients (of any order) follow.
#include "descent/autograd/nn/functional.h"

#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"
#include "descent/warning.h"
#include "tensor/native.h"

namespace descent::nn::functional {

using autograd::FormulaNode;
using autograd::tensor_list;

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  Tensor out = matmul(input, weight.t());
  return bias.defined() ? add(out, bias) : out;
}

Tensor relu(const Tensor& input) { return descent::relu(input); }
Tensor sigmoid(const Tensor& input) { return descent::sigmoid(input); }
Tensor tanh(const Tensor& input) { return descent::tanh(input); }
Tensor softplus(const Tensor& input, double beta, double threshold) {
  return descent::softplus(input, beta, threshold);
}

namespace {
void require_floating(const char* op, const Tensor& t) {
  if (!t.is_floating_point())
    raise<TypeError>(op, ": expected a floating point input, but got ", to_string(t.dtype()));
}

// x - max(x) along dim (keepdim), and the dim wrapped.
std::pair<Tensor, int64_t> shifted_by_max(const char* op, const Tensor& input, int64_t dim) {
  require_floating(op, input);
  int64_t d = native::wrap_dim(dim, input.dim(), op);
  Shape dims = input.dim() == 0 ? Shape{} : Shape{d};
  Tensor m = native::reduce(op, ReduceOp::Max, input, dims, true, std::nullopt);
  return {native::sub(input, m, 1), d};
}
}  // namespace

Tensor log_softmax(const Tensor& input, int64_t dim) {
  auto [shifted, d] = shifted_by_max("log_softmax", input, dim);
  Shape dims = input.dim() == 0 ? Shape{} : Shape{d};
  Tensor sum =
      native::reduce("log_softmax", ReduceOp::Sum, native::unary_float("log_softmax", UnaryOp::Exp, shifted),
                     dims, true, std::nullopt);
  Tensor out = native::sub(shifted, native::unary_float("log_softmax", UnaryOp::Log, sum), 1);
  if (!autograd::needs_grad(input)) return out;
  auto n = autograd::formula_node("LogSoftmaxBackward0", {&input});
  autograd::set_history(out, n);
  std::size_t sr = n->save(out, true);
  n->formula = [sr, dims](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {sub(g[0], mul(exp(n.saved(sr)), g[0].sum(dims, true)))};
  };
  return out;
}

Tensor softmax(const Tensor& input, int64_t dim) {
  auto [shifted, d] = shifted_by_max("softmax", input, dim);
  Shape dims = input.dim() == 0 ? Shape{} : Shape{d};
  Tensor e = native::unary_float("softmax", UnaryOp::Exp, shifted);
  Tensor sum = native::reduce("softmax", ReduceOp::Sum, e, dims, true, std::nullopt);
  Tensor out = native::mul(e, native::unary_float("softmax", UnaryOp::Reciprocal, sum));
  if (!autograd::needs_grad(input)) return out;
  auto n = autograd::formula_node("SoftmaxBackward0", {&input});
  autograd::set_history(out, n);
  std::size_t sr = n->save(out, true);
  n->formula = [sr, dims](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor y = n.saved(sr);
    return {mul(sub(g[0], mul(g[0], y).sum(dims, true)), y)};
  };
  return out;
}

// ---- embedding ----
namespace {
std::vector<int64_t> host_indices(const Tensor& indices) { return indices.to_vector<int64_t>(); }

// Copies rows of `table` ([rows, width]) to consecutive rows of `out`, skipping padding.
void gather_rows(const Tensor& strided_table, const std::vector<int64_t>& rows, Tensor& out, int64_t padding_idx) {
  const Tensor table = strided_table.is_contiguous() ? strided_table : native::clone(strided_table);
  int64_t width = table.sizes()[1];
  auto row_bytes = static_cast<std::size_t>(width * table.element_size());
  Backend& be = backend_for(table.device().type);
  auto* dst = static_cast<char*>(out.data_ptr());
  const auto* src = static_cast<const char*>(table.data_ptr());
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (rows[i] != padding_idx && row_bytes > 0)
      be.copy(dst + i * row_bytes, src + rows[i] * static_cast<int64_t>(row_bytes), row_bytes);
}

Tensor embedding_dense_backward(const Tensor& grad, const Tensor& indices, int64_t num_weights,
                                int64_t padding_idx);

// weight[indices] with rows at padding_idx zeroed (used by the double backward).
Tensor gather_or_zero(const Tensor& weight, const Tensor& indices, int64_t padding_idx) {
  std::vector<int64_t> rows = host_indices(indices);
  Shape shape = indices.sizes();
  shape.push_back(weight.sizes()[1]);
  Tensor out = native::empty(shape, weight.dtype(), weight.device());
  native::fill_(out, 0);
  gather_rows(weight, rows, out, padding_idx);
  if (!autograd::needs_grad(weight)) return out;
  auto n = autograd::formula_node("EmbeddingBackward0", {&weight});
  std::size_t si = n->save(indices);
  n->formula = [si, rows = weight.sizes()[0], padding_idx](FormulaNode& n,
                                                           const tensor_list& g) -> tensor_list {
    return {embedding_dense_backward(g[0], n.saved(si), rows, padding_idx)};
  };
  return autograd::finish(std::move(out), n);
}

// The dense gradient of an embedding lookup: each looked-up row adds its
// gradient to its weight row, in lookup order.
Tensor embedding_dense_backward(const Tensor& grad, const Tensor& indices, int64_t num_weights,
                                int64_t padding_idx) {
  int64_t width = grad.sizes().back();
  Tensor out = native::empty({num_weights, width}, grad.dtype(), grad.device());
  native::fill_(out, 0);
  Tensor rows_grad = native::view(grad, {-1, width});
  std::vector<int64_t> rows = host_indices(indices);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] == padding_idx) continue;
    Tensor dst = native::select(out, 0, rows[i]);
    native::add_(dst, native::select(rows_grad, 0, static_cast<int64_t>(i)), 1);
  }
  if (!autograd::needs_grad(grad)) return out;
  auto n = autograd::formula_node("EmbeddingDenseBackwardBackward0", {&grad});
  std::size_t si = n->save(indices);
  n->formula = [si, padding_idx](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {gather_or_zero(g[0], n.saved(si), padding_idx)};
  };
  return autograd::finish(std::move(out), n);
}

Tensor embedding_sparse_backward(const Tensor& grad, const Tensor& indices, int64_t num_weights,
                                 int64_t padding_idx) {
  int64_t width = grad.sizes().back();
  std::vector<int64_t> rows = host_indices(indices);
  std::vector<int64_t> keep_rows, keep_positions;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (rows[i] != padding_idx) {
      keep_rows.push_back(rows[i]);
      keep_positions.push_back(static_cast<int64_t>(i));
    }
  auto nnz = static_cast<int64_t>(keep_rows.size());
  Tensor idx = tensor(keep_rows, {1, nnz}).to(grad.device());
  Tensor values;
  Tensor flat = grad.detach().reshape({-1, width});
  if (nnz == static_cast<int64_t>(rows.size())) {
    values = flat.clone();
  } else {
    values = native::empty({nnz, width}, grad.dtype(), grad.device());
    gather_rows(flat, keep_positions, values, -1);
  }
  return sparse_coo_tensor(idx, values, {num_weights, width}, false);
}
}  // namespace

Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx, bool sparse) {
  if (input.dtype() != kInt64)
    raise<TypeError>("embedding: expected indices of dtype torch.int64, but got ", to_string(input.dtype()));
  if (weight.dim() != 2)
    raise<ShapeError>("embedding: 'weight' must be 2-D, but got a ", weight.dim(), "-D tensor");
  int64_t num = weight.sizes()[0];
  int64_t pad = -1;
  if (padding_idx) {
    if (*padding_idx >= num || *padding_idx < -num)
      raise<ValueError>("embedding: padding_idx must be within num_embeddings (got ", *padding_idx, " for ",
                        num, " embeddings)");
    pad = *padding_idx < 0 ? *padding_idx + num : *padding_idx;
  }
  std::vector<int64_t> rows = host_indices(input);
  for (int64_t r : rows)
    if (r < 0 || r >= num)
      raise<IndexError>("embedding: index out of range in self (index ", r, ", num_embeddings ", num, ")");
  Shape shape = input.sizes();
  shape.push_back(weight.sizes()[1]);
  Tensor out = native::empty(shape, weight.dtype(), weight.device());
  gather_rows(weight, rows, out, -1);
  if (!autograd::needs_grad(weight)) return out;
  auto n = autograd::formula_node("EmbeddingBackward0", {&weight});
  std::size_t si = n->save(input);
  n->formula = [si, num, pad, sparse](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor indices = n.saved(si);
    return {sparse ? embedding_sparse_backward(g[0], indices, num, pad)
                   : embedding_dense_backward(g[0], indices, num, pad)};
  };
  return autograd::finish(std::move(out), n);
}

// ---- batch norm ----
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum, double eps) {
  require_floating("batch_norm", input);
  if (input.dim() < 2)
    raise<ShapeError>("batch_norm: expected an input with a batch and a channel dim, but got shape ",
                      shape_to_string(input.sizes()));
  int64_t channels = input.sizes()[1];
  auto check_channels = [&](const Tensor& t, const char* what) {
    if (t.defined() && t.numel() != channels)
      raise<ShapeError>("batch_norm: ", what, " should contain ", channels, " elements not ", t.numel());
  };
  check_channels(running_mean, "running_mean");
  check_channels(running_var, "running_var");
  check_channels(weight, "weight");
  check_channels(bias, "bias");
  Shape dims{0}, stat_shape(static_cast<std::size_t>(input.dim()), 1);
  stat_shape[1] = channels;
  for (int64_t d = 2; d < input.dim(); ++d) dims.push_back(d);
  int64_t n = input.numel() / std::max<int64_t>(channels, 1);

  Tensor mean, invstd;
  if (training) {
    if (n <= 1)
      raise<ValueError>("Expected more than 1 value per channel when training, got input size ",
                        shape_to_string(input.sizes()));
    // PyTorch's CPU kernel accumulates the statistics in double (float for half types).
    Dtype acc = input.dtype() == kFloat16 || input.dtype() == kBFloat16 ? kFloat32 : kFloat64;
    Tensor x = input.to(acc);
    Tensor batch_mean = div(x.sum(dims, true), Scalar(n));
    Tensor centered = sub(x, batch_mean);
    Tensor var_sum = mul(centered, centered).sum(dims, true);
    invstd = reciprocal(sqrt(add(div(var_sum, Scalar(n)), Scalar(eps)))).to(input.dtype());
    mean = batch_mean.to(input.dtype());
    if (running_mean.defined() || running_var.defined()) {
      autograd::NoGradGuard no_grad;
      auto update = [&](const Tensor& running, const Tensor& batch) {
        Tensor r = running;
        Tensor moved = add(mul(batch.detach().reshape({channels}), Scalar(momentum)),
                           mul(running.to(acc), Scalar(1.0 - momentum)));
        r.copy_(moved);
      };
      if (running_mean.defined()) update(running_mean, batch_mean);
      if (running_var.defined()) update(running_var, div(var_sum, Scalar(n - 1)));
    }
  } else {
    if (!running_mean.defined() || !running_var.defined())
      raise<ValueError>("batch_norm: running_mean and running_var must be defined when training=false");
    mean = running_mean.reshape(stat_shape).to(input.dtype());
    invstd = reciprocal(sqrt(add(running_var, Scalar(eps)))).reshape(stat_shape).to(input.dtype());
  }
  // out = x * alpha + beta, PyTorch's order of operations.
  Tensor alpha = weight.defined() ? mul(invstd, weight.reshape(stat_shape)) : invstd;
  Tensor beta = bias.defined() ? sub(bias.reshape(stat_shape), mul(mean, alpha)) : neg(mul(mean, alpha));
  return add(mul(input, alpha), beta);
}

// ---- losses ----
namespace {
enum class Reduction { None, Mean, Sum };

Reduction parse_reduction(const std::string& reduction) {
  if (reduction == "mean") return Reduction::Mean;
  if (reduction == "sum") return Reduction::Sum;
  if (reduction == "none") return Reduction::None;
  raise<ValueError>(reduction, " is not a valid value for reduction");
}

Tensor reduce(const Tensor& losses, Reduction r) {
  switch (r) {
    case Reduction::Mean:
      return losses.mean();
    case Reduction::Sum:
      return losses.sum();
    case Reduction::None:
      break;
  }
  return losses;
}

int64_t class_dim(const Tensor& input) { return input.dim() == 1 ? 0 : 1; }

// The class-dim shape [1, C, 1, ...] for broadcasting per-class values.
Shape class_shape(const Tensor& input) {
  Shape s(static_cast<std::size_t>(input.dim()), 1);
  s[class_dim(input)] = input.sizes()[class_dim(input)];
  return s;
}

void check_weight(const Tensor& weight, int64_t classes) {
  if (weight.defined() && (weight.dim() != 1 || weight.numel() != classes))
    raise<ShapeError>(
        "weight tensor should be defined either for all ", classes,
        " classes or no classes but got weight tensor of shape: ", shape_to_string(weight.sizes()));
}

// Checks class-index targets against the input and returns one-hot masks.
Tensor one_hot_mask(const Tensor& input, const Tensor& target, int64_t ignore_index) {
  if (target.dtype() != kInt64)
    raise<TypeError>("nll_loss: expected a target of class indices with dtype torch.int64, but got ",
                     to_string(target.dtype()));
  if (input.dim() == 0) raise<ShapeError>("nll_loss: input must have at least 1 dimension (the classes)");
  Shape expected = input.sizes();
  expected.erase(expected.begin() + class_dim(input));
  if (input.dim() >= 2 && (target.dim() == 0 || target.sizes()[0] != input.sizes()[0]))
    raise<ValueError>("Expected input batch_size (", input.sizes()[0], ") to match target batch_size (",
                      target.dim() == 0 ? 0 : target.sizes()[0], ").");
  if (target.sizes() != expected)
    raise<ShapeError>("nll_loss: target has shape ", shape_to_string(target.sizes()),
                      " but the input of shape ", shape_to_string(input.sizes()), " needs ",
                      shape_to_string(expected));
  int64_t classes = input.sizes()[class_dim(input)];
  for (int64_t t : target.to_vector<int64_t>())
    if (t != ignore_index && (t < 0 || t >= classes)) raise<IndexError>("Target ", t, " is out of bounds.");
  Tensor positions = arange(classes, {.dtype = kInt64, .device = input.device()}).reshape(class_shape(input));
  return eq(positions, target.unsqueeze(class_dim(input)));
}
}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  Reduction r = parse_reduction(reduction);
  if (input.sizes() != target.sizes())
    warn("Using a target size (" + shape_to_string(target.sizes()) +
         ") that is different to the input size (" + shape_to_string(input.sizes()) +
         "). This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
         "same size.");
  return reduce(square(sub(input, target)), r);
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                const std::string& reduction) {
  Reduction r = parse_reduction(reduction);
  Tensor hot = one_hot_mask(input, target, ignore_index);
  int64_t cd = class_dim(input);
  check_weight(weight, input.sizes()[cd]);
  Tensor valid = target.ne(Scalar(ignore_index));
  Tensor picked = where(valid, where(hot, input, Scalar(0)).sum({cd}), Scalar(0));
  Tensor w =
      weight.defined()
          ? where(valid, where(hot, weight.reshape(class_shape(input)), Scalar(0)).sum({cd}), Scalar(0))
          : valid.to(input.dtype());
  Tensor losses = neg(mul(picked, w));
  switch (r) {
    case Reduction::None:
      return losses;
    case Reduction::Sum:
      return losses.sum();
    case Reduction::Mean:
      break;
  }
  return div(losses.sum(), w.sum());
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     const std::string& reduction, double label_smoothing) {
  Reduction r = parse_reduction(reduction);
  if (label_smoothing < 0.0 || label_smoothing > 1.0)
    raise<ValueError>("label_smoothing must be between 0.0 and 1.0. Got: ", format_double(label_smoothing));
  if (input.dim() == 0)
    raise<ShapeError>("cross_entropy: input must have at least 1 dimension (the classes)");
  int64_t cd = class_dim(input);
  int64_t classes = input.sizes()[cd];
  check_weight(weight, classes);
  Tensor logp = log_softmax(input, cd);
  Tensor w = weight.defined() ? weight.reshape(class_shape(input)) : Tensor();

  if (target.is_floating_point()) {
    // Class probabilities.
    if (target.sizes() != input.sizes())
      raise<ShapeError>("cross_entropy: a target of class probabilities must have the input's shape ",
                        shape_to_string(input.sizes()), ", got ", shape_to_string(target.sizes()));
    Tensor t = label_smoothing > 0
                   ? add(mul(target, Scalar(1 - label_smoothing)), Scalar(label_smoothing / classes))
                   : target;
    Tensor terms = w.defined() ? mul(mul(logp, t), w) : mul(logp, t);
    switch (r) {
      case Reduction::None:
        return neg(terms.sum({cd}));
      case Reduction::Sum:
        return neg(terms.sum());
      case Reduction::Mean:
        break;
    }
    return div(neg(terms.sum()), Scalar(input.numel() / std::max<int64_t>(classes, 1)));
  }

  Tensor nll = nll_loss(logp, target, weight, ignore_index, reduction);
  if (label_smoothing <= 0.0) return nll;
  Tensor ignored = target.eq(Scalar(ignore_index));
  Tensor smooth = neg((w.defined() ? mul(logp, w) : logp).sum({cd}));
  smooth = where(ignored, Scalar(0), smooth);
  Tensor smooth_reduced;
  switch (r) {
    case Reduction::None:
      smooth_reduced = smooth;
      break;
    case Reduction::Sum:
      smooth_reduced = smooth.sum();
      break;
    case Reduction::Mean:
      if (weight.defined()) {
        Tensor hot = one_hot_mask(logp, target, ignore_index);
        Tensor picked_w = where(logical_not(ignored), where(hot, w, Scalar(0)).sum({cd}), Scalar(0));
        smooth_reduced = div(smooth.sum(), picked_w.sum());
      } else {
        smooth_reduced = div(smooth.sum(), logical_not(ignored).sum());
      }
      break;
  }
  return add(mul(nll, Scalar(1 - label_smoothing)), mul(smooth_reduced, Scalar(label_smoothing / classes)));
}

}  // namespace descent::nn::functional
