// fill and cast: contiguous, one element per thread.
#include <thrust/fill.h>
#include <thrust/transform.h>

#include "devices/cuda/thrust_backend.h"

namespace descent::detail::DESCENT_THRUST_NS {

namespace {
template <class To>
struct Convert {
  template <class From>
  DESCENT_HOST_DEVICE To operator()(From x) const {
    return math::convert<To>(x);
  }
};
}  // namespace

void fill(void* dst, Dtype dtype, int64_t n, std::complex<double> value) {
  if (n <= 0) return;
  dispatch_storage(dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    S* p = static_cast<S*>(dst);
    thrust::fill_n(policy(), p, n, from_scalar<S>(value));
  });
}

void cast(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n) {
  if (n <= 0) return;
  dispatch_storage(src_dtype, [&](auto from) {
    using From = typename decltype(from)::type;
    dispatch_storage(dst_dtype, [&](auto to) {
      using To = typename decltype(to)::type;
      const From* in = static_cast<const From*>(src);
      thrust::transform(policy(), in, in + n, static_cast<To*>(dst), Convert<To>{});
    });
  });
}

}  // namespace descent::detail::DESCENT_THRUST_NS
