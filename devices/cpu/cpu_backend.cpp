#include "devices/cpu/cpu_backend.h"

// Eigen 3.4's AVX-512 code trips GCC 12 warnings inside Eigen; they fire
// where its templates are instantiated, so they stay off for this file.
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices/elementwise_math.h"

namespace descent {

namespace {

constexpr std::size_t kAlignment = 64;
// Bytes per task when copying: memcpy is bandwidth-bound, so only huge copies split.
constexpr int64_t kCopyGrainBytes = int64_t{1} << 20;

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Products are split into blocks of this many rows; fixed, so that the result
// does not depend on the number of threads.
constexpr int64_t kMatmulRowBlock = 64;

template <class T>
void matmul_eigen(const T* a, const T* c, T* out, int64_t batch, int64_t m, int64_t k, int64_t n, bool broadcast_a,
                  bool broadcast_c) {
  const int64_t row_blocks = (m + kMatmulRowBlock - 1) / kMatmulRowBlock;
  const int64_t cost = std::max<int64_t>(1, kMatmulRowBlock * k * n);
  parallel_for(0, batch * row_blocks, std::max<int64_t>(1, kGrainSize / cost), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / row_blocks, r0 = (t % row_blocks) * kMatmulRowBlock;
      const int64_t rows = std::min(kMatmulRowBlock, m - r0);
      Eigen::Map<const RowMajor<T>> A(a + (broadcast_a ? 0 : b * m * k) + r0 * k, rows, k);
      Eigen::Map<const RowMajor<T>> C(c + (broadcast_c ? 0 : b * k * n), k, n);
      Eigen::Map<RowMajor<T>> O(out + b * m * n + r0 * n, rows, n);
      O.noalias() = A * C;
    }
  });
}

// int64 has no BLAS: a loop in i-p-j order, which streams rows of c and out.
void matmul_int64(const int64_t* a, const int64_t* c, int64_t* out, int64_t batch, int64_t m, int64_t k, int64_t n,
                  bool broadcast_a, bool broadcast_c) {
  parallel_for(0, batch * m, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, k * n)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t b = t / m, i = t % m;
                   const int64_t* arow = a + (broadcast_a ? 0 : b * m * k) + i * k;
                   const int64_t* cm = c + (broadcast_c ? 0 : b * k * n);
                   int64_t* orow = out + b * m * n + i * n;
                   std::fill(orow, orow + n, int64_t{0});
                   for (int64_t p = 0; p < k; ++p) {
                     const int64_t x = arow[p];
                     const int64_t* crow = cm + p * n;
                     for (int64_t j = 0; j < n; ++j) orow[j] += x * crow[j];
                   }
                 }
               });
}

// float16/bfloat16: multiply in float (PyTorch accumulates in float too), round once.
template <class T>
void matmul_reduced(const T* a, const T* c, T* out, int64_t batch, int64_t m, int64_t k, int64_t n, bool broadcast_a,
                    bool broadcast_c) {
  const int64_t a_count = (broadcast_a ? 1 : batch) * m * k, c_count = (broadcast_c ? 1 : batch) * k * n;
  std::vector<float> af(a_count), cf(c_count), of(batch * m * n);
  for (int64_t i = 0; i < a_count; ++i) af[i] = static_cast<float>(a[i]);
  for (int64_t i = 0; i < c_count; ++i) cf[i] = static_cast<float>(c[i]);
  matmul_eigen(af.data(), cf.data(), of.data(), batch, m, k, n, broadcast_a, broadcast_c);
  for (int64_t i = 0; i < batch * m * n; ++i) out[i] = T(of[i]);
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

void CpuBackend::matmul(Dtype dtype, const void* a, const void* c, void* out, int64_t batch, int64_t m, int64_t k,
                        int64_t n, bool broadcast_a, bool broadcast_c) {
  if (batch < 0 || m < 0 || k < 0 || n < 0)
    raise<ValueError>("matmul: invalid sizes batch=", batch, " m=", m, " k=", k, " n=", n, " (must be >= 0)");
  if (batch == 0 || m == 0 || n == 0) return;
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a);
    const T* pc = static_cast<const T*>(c);
    T* po = static_cast<T*>(out);
    if constexpr (std::is_same_v<T, bool>) {
      raise<NotImplementedError>("matmul: not implemented for ", to_string(dtype));
    } else if constexpr (std::is_same_v<T, int64_t>) {
      matmul_int64(pa, pc, po, batch, m, k, n, broadcast_a, broadcast_c);
    } else if constexpr (math::is_reduced_float_v<T>) {
      matmul_reduced(pa, pc, po, batch, m, k, n, broadcast_a, broadcast_c);
    } else {
      matmul_eigen(pa, pc, po, batch, m, k, n, broadcast_a, broadcast_c);
    }
  });
}

namespace detail {
CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}
}  // namespace detail

}  // namespace descent
