#pragma once
// Multi-tensor ops (torch._foreach_*): one op applied across a list of
// tensors, the building block of the foreach optimizer implementations.
// Scalar lists give one scalar per tensor.
#include <vector>

#include "descent/tensor/tensor.h"

namespace descent {

using TensorList = std::vector<Tensor>;

std::vector<Tensor> _foreach_neg(const TensorList& tensors);
std::vector<Tensor> _foreach_sqrt(const TensorList& tensors);
std::vector<Tensor> _foreach_add(const TensorList& a, const TensorList& b, const Scalar& alpha = 1);
void _foreach_add_(TensorList& tensors, const Scalar& scalar);
void _foreach_add_(TensorList& a, const TensorList& b, const Scalar& alpha = 1);
std::vector<Tensor> _foreach_mul(const TensorList& a, const TensorList& b);
void _foreach_mul_(TensorList& tensors, const Scalar& scalar);
void _foreach_mul_(TensorList& tensors, const std::vector<Scalar>& scalars);
void _foreach_mul_(TensorList& a, const TensorList& b);
void _foreach_div_(TensorList& tensors, const std::vector<Scalar>& scalars);
void _foreach_div_(TensorList& a, const TensorList& b);
void _foreach_lerp_(TensorList& a, const TensorList& b, const Scalar& weight);
void _foreach_lerp_(TensorList& a, const TensorList& b, const std::vector<Scalar>& weights);
void _foreach_clamp_min_(TensorList& tensors, const Scalar& min);
void _foreach_rsqrt_(TensorList& tensors);
void _foreach_addcmul_(TensorList& a, const TensorList& b, const TensorList& c, const Scalar& value = 1);
void _foreach_addcdiv_(TensorList& a, const TensorList& b, const TensorList& c, const std::vector<Scalar>& values);
void _foreach_maximum_(TensorList& a, const TensorList& b);
void _foreach_zero_(TensorList& tensors);

}  // namespace descent
