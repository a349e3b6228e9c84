#pragma once
// The fused path of the sparse-gradient updates (SparseAdam, Adagrad): one
// pass of a rows kernel of devices/optim_math over the rows a coalesced
// sparse gradient touches, in place of the forloop's chain of sparse ops
// (sparse_mask, values arithmetic, sparse adds into param and state), each a
// pass over those rows. The kernels follow that chain's op order, so the
// result is the forloop's bit for bit.
#include <array>
#include <vector>

#include "descent/devices/backend.h"
#include "descent/tensor/tensor.h"

namespace descent::optim::detail {

// Whether the rows kernel takes this update: no autograd recording, a
// float32 or float64 param
// with a grad of its dtype and device, and state tensors of the param's
// dtype, device and shape, on a backend with the kernel.
bool fused_rows_apply(const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state);

// Runs `kernel` over the rows `grad` (sparse, coalesced, the param's shape)
// touches; the state tensors are the kernel's slots in order. Raises
// IndexError for an index outside the param (nothing changes then).
void fused_rows_step(int kernel, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state,
                     const std::array<double, kMaxFusedScalars>& scalars,
                     const std::array<double, kMaxFusedTensorScalars>& tensor_scalars);

}  // namespace descent::optim::detail
