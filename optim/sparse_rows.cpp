#include "optim/sparse_rows.h"

#include "descent/autograd/grad_mode.h"
#include "descent/error.h"
#include "descent/tensor/ops.h"

namespace descent::optim::detail {

bool fused_rows_apply(const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state) {
  // A recorded update (differentiable) needs the ops' autograd history.
  if (autograd::is_grad_enabled()) return false;
  const Dtype dtype = param.dtype();
  if ((dtype != kFloat32 && dtype != kFloat64) || param.is_sparse() || !grad.is_sparse() ||
      grad.dtype() != dtype || grad.device() != param.device() || grad.sizes() != param.sizes())
    return false;
  for (const Tensor& s : state)
    if (!s.defined() || s.is_sparse() || s.dtype() != dtype || s.device() != param.device() ||
        s.sizes() != param.sizes())
      return false;
  return param.device().is_cpu() || param.device().is_cuda();
}

namespace {
// Row numbers of the grad's entries in the param viewed as [rows, row_size].
Tensor row_numbers(const Tensor& grad) {
  const Tensor indices = grad._indices().cpu();
  const int64_t sparse_dim = indices.sizes()[0], nnz = indices.sizes()[1];
  const Shape& size = grad.sizes();
  Tensor rows = empty({nnz}, {.dtype = kInt64});
  auto* out = rows.data_ptr<int64_t>();
  const auto* idx = indices.data_ptr<int64_t>();
  for (int64_t j = 0; j < nnz; ++j) out[j] = 0;
  for (int64_t d = 0; d < sparse_dim; ++d)
    for (int64_t j = 0; j < nnz; ++j) {
      const int64_t i = idx[d * nnz + j];
      if (i < 0 || i >= size[static_cast<std::size_t>(d)])
        raise<IndexError>("sparse gradient: index ", i, " of entry ", j, " is out of bounds for dimension ", d,
                          " with size ", size[static_cast<std::size_t>(d)]);
      out[j] = out[j] * size[static_cast<std::size_t>(d)] + i;
    }
  return rows.to(grad.device());
}
}  // namespace

void fused_rows_step(int kernel, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state,
                     const std::array<double, kMaxFusedScalars>& scalars,
                     const std::array<double, kMaxFusedTensorScalars>& tensor_scalars) {
  const Tensor values = grad._values();
  const int64_t nnz = values.sizes().empty() ? 0 : values.sizes()[0];
  if (nnz == 0 || values.numel() == 0) return;
  const Tensor rows = row_numbers(grad);
  FusedRows t;
  t.param = param.data_ptr();
  t.values = values.data_ptr();
  for (std::size_t k = 0; k < state.size(); ++k) t.state[k] = state[k].data_ptr();
  t.rows = rows.data_ptr<int64_t>();
  t.nrows = nnz;
  t.row_size = values.numel() / nnz;
  t.scalars = tensor_scalars;
  FusedPointwiseArgs args;
  args.kernel = kernel;
  args.scalars = scalars;
  backend_for(param.device().type).fused_pointwise_rows(param.dtype(), {t}, args);
  param.bump_version();
  for (const Tensor& s : state) s.bump_version();
}

}  // namespace descent::optim::detail
