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
template <class T>
using ColMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

// Products are split into tiles of at most this many rows and columns of the
// output, each one Eigen product: the tiling depends only on the shapes, so
// the result is the same for any number of threads, and a batch-64 product
// still gives the pool several tiles.
constexpr int64_t kMatmulRowTile = 256;
constexpr int64_t kMatmulColTile = 256;

// An operand's (rows x cols) block at (r0, c0), read in place in its own storage order.
template <class T, class Fn>
void with_block(const MatmulOperand& op, const T* base, int64_t r0, int64_t c0, int64_t rows, int64_t cols, Fn&& fn) {
  const T* p = base + r0 * op.row_stride + c0 * op.col_stride;
  if (op.col_stride == 1) {
    fn(Eigen::Map<const RowMajor<T>, 0, Eigen::OuterStride<>>(p, rows, cols, Eigen::OuterStride<>(op.row_stride)));
  } else {
    fn(Eigen::Map<const ColMajor<T>, 0, Eigen::OuterStride<>>(p, rows, cols, Eigen::OuterStride<>(op.col_stride)));
  }
}

template <class T>
void matmul_eigen(const MatmulOperand& a, const MatmulOperand& c, T* out, int64_t batch, int64_t m, int64_t k,
                  int64_t n) {
  const int64_t row_tiles = (m + kMatmulRowTile - 1) / kMatmulRowTile;
  const int64_t col_tiles = (n + kMatmulColTile - 1) / kMatmulColTile;
  const int64_t tiles = row_tiles * col_tiles;
  const int64_t cost = std::max<int64_t>(1, std::min(m, kMatmulRowTile) * k * std::min(n, kMatmulColTile));
  parallel_for(0, batch * tiles, std::max<int64_t>(1, kGrainSize / cost), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / tiles, r0 = (t % tiles) / col_tiles * kMatmulRowTile,
                    c0 = (t % col_tiles) * kMatmulColTile;
      const int64_t rows = std::min(kMatmulRowTile, m - r0), cols = std::min(kMatmulColTile, n - c0);
      const T* pa = static_cast<const T*>(a.data) + b * a.batch_stride;
      const T* pc = static_cast<const T*>(c.data) + b * c.batch_stride;
      Eigen::Map<RowMajor<T>, 0, Eigen::OuterStride<>> O(out + b * m * n + r0 * n + c0, rows, cols,
                                                          Eigen::OuterStride<>(n));
      with_block(a, pa, r0, 0, rows, k, [&](const auto& A) {
        with_block(c, pc, 0, c0, k, cols, [&](const auto& C) { O.noalias() = A * C; });
      });
    }
  });
}

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

// float16/bfloat16: multiply in float (PyTorch accumulates in float too), round once.
template <class T>
void matmul_reduced(const MatmulOperand& a, const MatmulOperand& c, T* out, int64_t batch, int64_t m, int64_t k,
                    int64_t n) {
  const auto widen = [batch](const MatmulOperand& op, int64_t rows, int64_t cols, std::vector<float>& buf) {
    const int64_t count = op.batch_stride == 0 ? 1 : batch;
    buf.resize(static_cast<std::size_t>(count * rows * cols));
    const T* p = static_cast<const T*>(op.data);
    for (int64_t b = 0; b < count; ++b)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          buf[(b * rows + i) * cols + j] = static_cast<float>(p[b * op.batch_stride + i * op.row_stride + j * op.col_stride]);
    return MatmulOperand{buf.data(), count == 1 ? 0 : rows * cols, cols, 1};
  };
  std::vector<float> af, cf, of(static_cast<std::size_t>(batch * m * n));
  const MatmulOperand wa = widen(a, m, k, af), wc = widen(c, k, n, cf);
  matmul_eigen(wa, wc, of.data(), batch, m, k, n);
  for (int64_t i = 0; i < batch * m * n; ++i) out[i] = T(of[i]);
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
    } else if constexpr (math::is_reduced_float_v<T>) {
      matmul_reduced(a, c, po, batch, m, k, n);
    } else {
      matmul_eigen(a, c, po, batch, m, k, n);
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
