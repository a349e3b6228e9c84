#include "devices/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices/cpu/cpu_isa.h"
#include "devices/elementwise_math.h"

namespace descent {

namespace {

constexpr std::size_t kAlignment = 64;
// Bytes per task when copying: memcpy is bandwidth-bound, so only huge copies split.
constexpr int64_t kCopyGrainBytes = int64_t{1} << 20;

// int64 has no BLAS: a loop in i-p-j order over each output row.
void matmul_int64(const MatmulOperand& a, const MatmulOperand& c, int64_t* out, int64_t batch, int64_t m, int64_t k,
                  int64_t n) {
  parallel_for(0, batch * m, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, k * n)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t b = t / m, i = t % m;
                   const int64_t* arow = static_cast<const int64_t*>(a.data) + b * a.batch_stride + i * a.row_stride;
                   const int64_t* cm = static_cast<const int64_t*>(c.data) + b * c.batch_stride;
                   int64_t* orow = out + b * m * n + i * n;
                   std::fill(orow, orow + n, int64_t{0});
                   for (int64_t p = 0; p < k; ++p) {
                     const int64_t x = arow[p * a.col_stride];
                     const int64_t* crow = cm + p * c.row_stride;
                     for (int64_t j = 0; j < n; ++j) orow[j] += x * crow[j * c.col_stride];
                   }
                 }
               });
}

void check_operand(const char* name, const MatmulOperand& op) {
  if (op.row_stride != 1 && op.col_stride != 1)
    raise<ValueError>("matmul: operand ", name, " has row stride ", op.row_stride, " and column stride ", op.col_stride,
                      " (one of them must be 1)");
}

}  // namespace

void* CpuBackend::allocate(std::size_t nbytes, int) {
  // aligned_alloc wants a multiple of the alignment; an empty buffer still gets a unique pointer.
  const std::size_t padded = (std::max<std::size_t>(nbytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  if (padded < nbytes) raise<RuntimeError>("CPU allocator: cannot allocate ", nbytes, " bytes (size overflow)");
  void* ptr = std::aligned_alloc(kAlignment, padded);
  if (!ptr) raise<RuntimeError>("CPU allocator: not enough memory: tried to allocate ", nbytes, " bytes");
  return ptr;
}

void CpuBackend::deallocate(void* ptr, int) { std::free(ptr); }

void CpuBackend::copy(void* dst, const void* src, std::size_t nbytes) {
  if (nbytes == 0 || dst == src) return;
  parallel_for(0, static_cast<int64_t>(nbytes), kCopyGrainBytes, [&](int64_t begin, int64_t end) {
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, end - begin);
  });
}

void CpuBackend::copy_to_host(void* host_dst, const void* src, std::size_t nbytes) { copy(host_dst, src, nbytes); }

void CpuBackend::copy_from_host(void* dst, const void* host_src, std::size_t nbytes) { copy(dst, host_src, nbytes); }

void CpuBackend::fill(void* dst, Dtype dtype, int64_t n, std::complex<double> value) {
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T v = math::convert<T>(value);
    T* p = static_cast<T*>(dst);
    parallel_for(0, n, kGrainSize, [&](int64_t begin, int64_t end) { std::fill(p + begin, p + end, v); });
  });
}

void CpuBackend::cast(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n) {
  if (src_dtype == dst_dtype) {
    copy(dst, src, static_cast<std::size_t>(n) * element_size(src_dtype));
    return;
  }
  dispatch_dtype(src_dtype, [&](auto src_tag) {
    dispatch_dtype(dst_dtype, [&](auto dst_tag) {
      using S = decltype(src_tag);
      using D = decltype(dst_tag);
      const S* s = static_cast<const S*>(src);
      D* d = static_cast<D*>(dst);
      parallel_for(0, n, kGrainSize, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) d[i] = math::convert<D>(s[i]);
      });
    });
  });
}

void CpuBackend::matmul(Dtype dtype, const MatmulOperand& a, const MatmulOperand& c, void* out, int64_t batch,
                        int64_t m, int64_t k, int64_t n) {
  if (batch < 0 || m < 0 || k < 0 || n < 0)
    raise<ValueError>("matmul: invalid sizes batch=", batch, " m=", m, " k=", k, " n=", n, " (must be >= 0)");
  if (batch == 0 || m == 0 || n == 0) return;
  check_operand("a", a);
  check_operand("c", c);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* po = static_cast<T*>(out);
    if constexpr (std::is_same_v<T, bool>) {
      raise<NotImplementedError>("matmul: not implemented for ", to_string(dtype));
    } else if constexpr (std::is_same_v<T, int64_t>) {
      matmul_int64(a, c, po, batch, m, k, n);
    } else {
      cpu_fused::active_kernels().matmul(dtype, a, c, po, batch, m, k, n);
    }
  });
}

void CpuBackend::elementwise(BinaryOp op, const ElementwiseArgs& args) {
  cpu_fused::active_kernels().elementwise(op, args);
}

void CpuBackend::unary(UnaryOp op, Dtype dtype, const void* in, void* out, Dtype out_dtype, int64_t n) {
  cpu_fused::active_kernels().unary(op, dtype, in, out, out_dtype, n);
}

namespace detail {
CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}
}  // namespace detail

}  // namespace descent
