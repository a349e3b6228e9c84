// Batched matrix products: one thread per output element, accumulating in
// opmath. Plain and portable rather than fast: the shapes optimizers and the
// autograd modules need are small, and the same code runs on Thrust's host
// system in CI.
#include <thrust/for_each.h>

#include "devices/cuda/thrust_backend.h"

namespace descent::detail::DESCENT_THRUST_NS {

namespace {

template <class S>
struct MatmulKernel {
  const S* a;
  const S* c;
  S* out;
  int64_t m, k, n;
  int64_t a_batch, a_row, a_col, c_batch, c_row, c_col;

  DESCENT_HOST_DEVICE void operator()(int64_t i) const {
    using T = math::opmath_t<S>;
    const int64_t b = i / (m * n);
    const int64_t row = (i / n) % m;
    const int64_t col = i % n;
    const S* x = a + b * a_batch + row * a_row;
    const S* y = c + b * c_batch + col * c_col;
    T acc = T(0);
    for (int64_t j = 0; j < k; ++j)
      acc = acc + math::mul(math::convert<T>(x[j * a_col]), math::convert<T>(y[j * c_row]));
    out[i] = math::convert<S>(acc);
  }
};

}  // namespace

void matmul(Dtype dtype, const MatmulOperand& a, const MatmulOperand& c, void* out, int64_t batch, int64_t m,
            int64_t k, int64_t n) {
  if (dtype == kBool) raise<NotImplementedError>("matmul: not implemented for bool tensors on ", kSystemName);
  if (batch < 0 || m < 0 || k < 0 || n < 0)
    raise<ValueError>("matmul: negative size (batch ", batch, ", m ", m, ", k ", k, ", n ", n, ")");
  const int64_t total = batch * m * n;
  if (total == 0) return;
  dispatch_storage(dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<S, bool>) {
      MatmulKernel<S> kernel{static_cast<const S*>(a.data), static_cast<const S*>(c.data), static_cast<S*>(out),
                             m, k, n, a.batch_stride, a.row_stride, a.col_stride, c.batch_stride, c.row_stride,
                             c.col_stride};
      thrust::for_each_n(policy(), first_index(), total, kernel);
    }
  });
}

}  // namespace descent::detail::DESCENT_THRUST_NS
