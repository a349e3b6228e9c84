#pragma once
// The backend interface: everything a device must provide for the tensor core
// to run on it. Kernels see raw memory, a dtype and 64-bit sizes and strides;
// shapes, promotion and broadcasting rules are decided above, in tensor/.
// To add a backend: implement this class and register it in devices/backend.cpp.
#include <array>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "descent/devices/device.h"
#include "descent/devices/dtype.h"

namespace descent {

// Most dimensions a tensor may have (PyTorch allows more; checked, never overrun).
inline constexpr int kMaxDims = 16;

enum class UnaryOp : int8_t {
  Neg, Abs, Sign, Sqrt, Rsqrt, Exp, Log, Reciprocal, Sigmoid, Tanh, Relu, Conj,
  Sin, Cos, Square, Log1p, Expm1,
  IsFinite, IsNan, IsInf, LogicalNot,  // these write bool
  Real, Imag, Angle,                   // complex -> real (out_dtype is the real dtype)
};

/// Binary and ternary elementwise ops. Scalars (alpha, value, weight, bounds)
/// travel in ElementwiseArgs::scalars and are applied in opmath precision.
enum class BinaryOp : int8_t {
  Copy,      // out = input 0 (one input, read through its strides: broadcast, permute)
  Add,       // a + alpha * b
  Sub,       // a - alpha * b
  Mul, Div, Pow, Maximum, Minimum, Atan2, Remainder,
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor,  // these write bool
  Lerp,      // a + w * (b - a), PyTorch's two-sided formula; w = scalars[0] or input 2
  Addcmul,   // a + value * b * c
  Addcdiv,   // a + value * b / c
  Where,     // a (bool condition) ? b : c
  Clamp,     // min(max(a, lo), hi); bounds from inputs 1/2 or scalars 0/1 (flags)
  ThresholdBackward,  // b > threshold ? a : 0 (relu' and friends); threshold = scalars[0]
};

enum class ReduceOp : int8_t { Sum, Mean, Max, Min, NormP2, NormInf, NormP, All, Any, Prod };

/// One operand of an elementwise kernel: memory plus element strides in the
/// output's index space (0 along broadcast dimensions).
struct Operand {
  const void* data = nullptr;
  Dtype dtype = kFloat32;
  std::array<int64_t, kMaxDims> strides{};
  bool contiguous = true;  // strides are the output's contiguous strides
  // A wrapped number (a C++ scalar argument): read from `scalar` in opmath
  // precision, as PyTorch reads its original value, never rounded to dtype.
  bool is_scalar = false;
  std::complex<double> scalar{};
};

/// One elementwise kernel launch: element count, shapes and strides of the operands, as a backend receives them.
struct ElementwiseArgs {
  int64_t numel = 0;
  int ndim = 0;
  std::array<int64_t, kMaxDims> sizes{};
  int ninputs = 0;
  std::array<Operand, 3> inputs{};
  void* out = nullptr;
  Dtype out_dtype = kFloat32;
  // The output's element strides when out_contiguous is false (a write
  // through a strided view; never overlapping itself).
  std::array<int64_t, kMaxDims> out_strides{};
  bool out_contiguous = true;
  // Per-op scalars in double/complex precision; cast to opmath at launch.
  std::array<std::complex<double>, 2> scalars{};
  // Clamp: which bounds are present; Lerp: weight is input 2 instead of scalars[0].
  bool has_min = false, has_max = false, tensor_weight = false;
};

/// One matrix operand of a batched product: element strides between batch
/// entries, rows and columns.
struct MatmulOperand {
  const void* data = nullptr;
  int64_t batch_stride = 0;
  int64_t row_stride = 0;
  int64_t col_stride = 1;
};

/// One reduction kernel launch (sum, max, ...) over a strided input, as a backend receives it.
struct ReduceArgs {
  ReduceOp op = ReduceOp::Sum;
  const void* in = nullptr;
  Dtype in_dtype = kFloat32;
  void* out = nullptr;  // values, out_dtype
  Dtype out_dtype = kFloat32;
  int64_t* indices = nullptr;  // Max/Min over a dim: argmax/argmin, else null
  int ndim = 0;
  std::array<int64_t, kMaxDims> sizes{};  // input shape (contiguous)
  std::array<bool, kMaxDims> reduce{};    // which dims are reduced
  double p = 2.0;                         // NormP exponent
};

// The sizes of a fused launch's fixed arrays: state buffers per tensor, the
// kernel's per-group scalars and its per-tensor scalars.
inline constexpr std::size_t kMaxFusedState = 3;
inline constexpr std::size_t kMaxFusedScalars = 8;
inline constexpr std::size_t kMaxFusedTensorScalars = 6;

/// Read-only operands of a kernel broadcast over its param viewed as
/// [batch, rows, cols] (row-major): element (b, i, j) reads row[b·rows + i],
/// col[b·cols + j] and matrix[b], each of the param's dtype. `row` null: the
/// kernel reads none for this tensor.
struct FusedBroadcast {
  const void* row = nullptr;
  const void* col = nullptr;
  const void* matrix = nullptr;
  int64_t rows = 1, cols = 1;
};

/// One tensor of a fused optimizer update: its param, grad and up to three
/// state buffers (all numel elements of the same dtype), plus the per-tensor
/// scalars the host computed once for this step.
struct FusedTensor {
  void* param = nullptr;
  void* grad = nullptr;
  std::array<void*, kMaxFusedState> state{};
  int64_t numel = 0;
  std::array<double, kMaxFusedTensorScalars> scalars{};  // a pointwise kernel's, from this tensor's step
  FusedBroadcast broadcast{};
};

/// AMP inputs (optimizer-base.md §9.2), on the kernel's device; null when absent.
struct AmpInputs {
  const float* grad_scale = nullptr;
  const float* found_inf = nullptr;
};

/// A fused pointwise update: `kernel` is a position in the kernel list of
/// devices/optim_math/kernels.h, `flags` its flag bits, `scalars` its
/// per-group scalars (host doubles, rounded to the compute type once).
struct FusedPointwiseArgs {
  int kernel = 0;
  unsigned flags = 0;
  std::array<double, kMaxFusedScalars> scalars{};
  AmpInputs amp;
};

/// One tensor of a fused update over the rows a sparse gradient touches:
/// param and state buffers are dense [rows x row_size] row-major; the grad's
/// values hold one row of row_size elements for each entry of `rows`, whose
/// row numbers (on the kernel's device) are distinct and below the param's
/// row count — the caller checks both, the kernel reads and writes only
/// those rows.
struct FusedRows {
  void* param = nullptr;
  const void* values = nullptr;
  std::array<void*, kMaxFusedState> state{};
  const int64_t* rows = nullptr;
  int64_t nrows = 0;
  int64_t row_size = 0;
  std::array<double, kMaxFusedTensorScalars> scalars{};
};

/// The kernels one device type provides (CPU, CUDA); tensor ops dispatch to the backend of their device.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType type() const = 0;

  virtual void* allocate(std::size_t nbytes, int device_index) = 0;
  virtual void deallocate(void* ptr, int device_index) = 0;
  // Copies nbytes between two buffers, either of which may live on the host;
  // the backend of the non-host side performs the transfer.
  virtual void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) = 0;
  virtual void copy(void* dst, const void* src, std::size_t nbytes) = 0;

  virtual void fill(void* dst, Dtype dtype, int64_t n, std::complex<double> value) = 0;
  // Converts n contiguous elements (complex -> real keeps the real part).
  virtual void cast(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n) = 0;
  // dtype: the dtype all inputs have (predicate ops write out_dtype == bool).
  virtual void unary(UnaryOp op, Dtype dtype, const void* in, void* out, Dtype out_dtype,
                     int64_t n) = 0;
  virtual void elementwise(BinaryOp op, const ElementwiseArgs& args) = 0;
  virtual void reduce(const ReduceArgs& args) = 0;
  // out[b] = a[b] @ c[b] for `batch` (m x k) @ (k x n) products into a
  // contiguous out; each operand has row or column stride 1 (a transposed
  // view is read in place) and batch stride 0 when it is broadcast.
  virtual void matmul(Dtype dtype, const MatmulOperand& a, const MatmulOperand& c, void* out, int64_t batch,
                      int64_t m, int64_t k, int64_t n) = 0;
  // A fused optimizer update: one pass over param, grad and state per
  // element, for a whole dtype bucket, with any kernel of the pointwise
  // list. A backend without it reports NotImplementedError.
  virtual void fused_pointwise(Dtype dtype, const std::vector<FusedTensor>& tensors,
                               const FusedPointwiseArgs& args);
  // The same kernels over the touched rows only (sparse gradients): one
  // pass over those rows of param and state. No AMP inputs.
  virtual void fused_pointwise_rows(Dtype dtype, const std::vector<FusedRows>& tensors,
                                    const FusedPointwiseArgs& args);

  // Wait until all queued work is complete (no-op on the CPU).
  virtual void synchronize() = 0;
};

// The backend that runs tensors of this device type; throws DeviceError when
// descent was built without it or no device is present.
Backend& backend_for(DeviceType type);
bool backend_available(DeviceType type);

}  // namespace descent
