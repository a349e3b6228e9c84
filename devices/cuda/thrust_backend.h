#pragma once
// The Thrust backend: every kernel of the Backend interface written once with
// Thrust and compiled twice, by nvcc for CUDA (cuda_backend.cu) and by the C++
// compiler for Thrust's host system (thrust_host_backend.cpp). Subclasses
// provide the memory (cudaMalloc or the host heap); the kernels below only
// see pointers into it.
#include <thrust/system_error.h>

#include <new>
#include <vector>

#include "devices/cuda/thrust_system.h"

namespace descent::detail::DESCENT_THRUST_NS {

// One file each: fill_cast.cu, unary.cu, elementwise.cu, reduce.cu, matmul.cu,
// fused_pointwise.cu.
void fill(void* dst, Dtype dtype, int64_t n, std::complex<double> value);
void cast(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n);
void unary(UnaryOp op, Dtype dtype, const void* in, void* out, Dtype out_dtype, int64_t n);
void elementwise(BinaryOp op, const ElementwiseArgs& args);
void reduce(const ReduceArgs& args);
void matmul(Dtype dtype, const MatmulOperand& a, const MatmulOperand& c, void* out, int64_t batch, int64_t m,
            int64_t k, int64_t n);
void fused_pointwise(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedPointwiseArgs& args);
void fused_pointwise_rows(Dtype dtype, const std::vector<FusedRows>& tensors, const FusedPointwiseArgs& args);

// Runs fn on the device owning `ptr`, turning Thrust's exceptions (launch
// failures, out of memory for temporaries) into descent errors.
template <class Fn>
void run(const char* op, const void* ptr, Fn&& fn) {
  DeviceScope scope(ptr);
  try {
    fn();
  } catch (const thrust::system_error& e) {
    raise<RuntimeError>(kSystemName, " ", op, ": ", e.what());
  } catch (const std::bad_alloc&) {
    raise<RuntimeError>(kSystemName, " ", op, ": out of memory for temporary buffers");
  }
}

class ThrustBackend : public Backend {
 public:
  void fill(void* dst, Dtype dtype, int64_t n, std::complex<double> value) override {
    run("fill", dst, [&] { DESCENT_THRUST_NS::fill(dst, dtype, n, value); });
  }
  void cast(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n) override {
    run("cast", dst, [&] { DESCENT_THRUST_NS::cast(src, src_dtype, dst, dst_dtype, n); });
  }
  void unary(UnaryOp op, Dtype dtype, const void* in, void* out, Dtype out_dtype, int64_t n) override {
    run("unary", out, [&] { DESCENT_THRUST_NS::unary(op, dtype, in, out, out_dtype, n); });
  }
  void elementwise(BinaryOp op, const ElementwiseArgs& args) override {
    run("elementwise", args.out, [&] { DESCENT_THRUST_NS::elementwise(op, args); });
  }
  void reduce(const ReduceArgs& args) override {
    run("reduce", args.out, [&] { DESCENT_THRUST_NS::reduce(args); });
  }
  void matmul(Dtype dtype, const MatmulOperand& a, const MatmulOperand& c, void* out, int64_t batch, int64_t m,
              int64_t k, int64_t n) override {
    run("matmul", out, [&] { DESCENT_THRUST_NS::matmul(dtype, a, c, out, batch, m, k, n); });
  }
  void fused_pointwise(Dtype dtype, const std::vector<FusedTensor>& tensors,
                       const FusedPointwiseArgs& args) override {
    run("fused_pointwise", tensors.empty() ? nullptr : tensors[0].param,
        [&] { DESCENT_THRUST_NS::fused_pointwise(dtype, tensors, args); });
  }
  void fused_pointwise_rows(Dtype dtype, const std::vector<FusedRows>& tensors,
                            const FusedPointwiseArgs& args) override {
    run("fused_pointwise_rows", tensors.empty() ? nullptr : tensors[0].param,
        [&] { DESCENT_THRUST_NS::fused_pointwise_rows(dtype, tensors, args); });
  }
};

}  // namespace descent::detail::DESCENT_THRUST_NS
