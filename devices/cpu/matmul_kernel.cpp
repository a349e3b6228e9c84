// The CPU matmul of the floating-point and complex dtypes: Eigen's GEMM over
// fixed output tiles, float16/bfloat16 widened to float.
//
// Compiled once per instruction set (devices/meson.build), like the fused
// optimizer loop, into the namespace DESCENT_CPU_ISA names; devices/cpu/
// cpu_isa.cpp picks one at run time. Eigen's kernels are header templates
// whose names do not say which vector width they were compiled for, and the
// linker would keep one variant's copy for all of them (a 128-bit packing
// routine feeding a 512-bit kernel); renaming the namespace Eigen per variant
// gives every variant its own instantiations.
//
// Unlike the fused loop, the variants do not round alike: wider registers and
// FMA change Eigen's summation order (as MKL's kernels differ by CPU in
// PyTorch). Within a variant the result is the same for any thread count.
#ifndef DESCENT_CPU_ISA
#error "DESCENT_CPU_ISA names the instruction set this variant is compiled for (devices/meson.build)"
#endif

#define DESCENT_EIGEN_NAMESPACE_(isa) descent_eigen_##isa
#define DESCENT_EIGEN_NAMESPACE(isa) DESCENT_EIGEN_NAMESPACE_(isa)
#define Eigen DESCENT_EIGEN_NAMESPACE(DESCENT_CPU_ISA)

// Eigen 3.4's AVX-512 code trips GCC 12 warnings inside Eigen; they fire
// where its templates are instantiated, so they stay off for this file.
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <complex>
#include <vector>

#include "descent/devices/half.h"
#include "descent/error.h"
#include "descent/devices/parallel.h"
#include "devices/cpu/cpu_isa.h"

namespace descent::cpu_fused::DESCENT_CPU_ISA {

namespace {

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

}  // namespace

void matmul(Dtype dtype, const MatmulOperand& a, const MatmulOperand& c, void* out, int64_t batch, int64_t m,
            int64_t k, int64_t n) {
  switch (dtype) {
    case Dtype::Float32: return matmul_eigen(a, c, static_cast<float*>(out), batch, m, k, n);
    case Dtype::Float64: return matmul_eigen(a, c, static_cast<double*>(out), batch, m, k, n);
    case Dtype::Complex64: return matmul_eigen(a, c, static_cast<std::complex<float>*>(out), batch, m, k, n);
    case Dtype::Complex128: return matmul_eigen(a, c, static_cast<std::complex<double>*>(out), batch, m, k, n);
    case Dtype::Float16: return matmul_reduced(a, c, static_cast<Half*>(out), batch, m, k, n);
    case Dtype::BFloat16: return matmul_reduced(a, c, static_cast<BFloat16*>(out), batch, m, k, n);
    default: raise<NotImplementedError>("matmul: not implemented for ", to_string(dtype));
  }
}

}  // namespace descent::cpu_fused::DESCENT_CPU_ISA
