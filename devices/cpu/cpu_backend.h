#pragma once
// The CPU backend: Eigen for matmul (devices/cpu/matmul_kernel.cpp), plain loops the compiler vectorises for
// everything else, split over descent's thread pool above kGrainSize elements.
#include "descent/devices/backend.h"

namespace descent {

class CpuBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CPU; }

  // 64-byte aligned (a cache line, the widest vector register); 0 bytes is allowed.
  void* allocate(std::size_t nbytes, int device_index) override;
  void deallocate(void* ptr, int device_index) override;
  void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) override;
  void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) override;
  void copy(void* dst, const void* src, std::size_t nbytes) override;

  void fill(void* dst, Dtype dtype, int64_t n, std::complex<double> value) override;
  void cast(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n) override;
  void unary(UnaryOp op, Dtype dtype, const void* in, void* out, Dtype out_dtype, int64_t n) override;
  void elementwise(BinaryOp op, const ElementwiseArgs& args) override;
  void reduce(const ReduceArgs& args) override;
  void matmul(Dtype dtype, const MatmulOperand& a, const MatmulOperand& c, void* out, int64_t batch, int64_t m,
              int64_t k, int64_t n) override;
  void fused_pointwise(Dtype dtype, const std::vector<FusedTensor>& tensors,
                       const FusedPointwiseArgs& args) override;
  void fused_pointwise_rows(Dtype dtype, const std::vector<FusedRows>& tensors,
                            const FusedPointwiseArgs& args) override;
  void synchronize() override {}
};

namespace detail {
CpuBackend& cpu_backend();
}  // namespace detail

}  // namespace descent
