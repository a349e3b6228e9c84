// erf (torch.erf), which GELU needs. The backend has no erf kernel: the
// values are computed on the host with std::erf (a round trip on CUDA).
#include <cmath>

#include "autograd/functions/functions.h"
#include "descent/tensor/ops.h"
#include "tensor/native.h"

namespace descent {

namespace {
Tensor erf_values(const Tensor& t) {
  if (t.is_sparse()) raise<NotImplementedError>("erf: sparse tensors are not supported");
  if (t.is_complex()) raise<NotImplementedError>("erf: not implemented for ", to_string(t.dtype()));
  const Dtype dtype = t.is_floating_point() ? t.dtype() : get_default_dtype();
  Tensor out = native::to(t.detach().contiguous(), Device(kCPU), dtype, true);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, double>) {
      double* p = out.data_ptr<double>();
      for (int64_t i = 0; i < out.numel(); ++i) p[i] = std::erf(p[i]);
    } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
      T* p = out.data_ptr<T>();
      for (int64_t i = 0; i < out.numel(); ++i) p[i] = T(std::erf(static_cast<float>(p[i])));
    }
  });
  return native::to(out, t.device(), dtype, false);
}
}  // namespace

Tensor erf(const Tensor& t) { return autograd::record_erf(erf_values(t), t); }
Tensor Tensor::erf() const { return descent::erf(*this); }

}  // namespace descent
