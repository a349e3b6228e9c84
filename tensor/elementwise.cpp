// The elementwise engine (promotion, broadcasting, device checks, aliasing)
// and every elementwise op built on it.
#include <algorithm>

#include "tensor/native.h"

namespace descent::native {

std::pair<int64_t, int64_t> byte_span(const Tensor& t) {
  int64_t es = t.element_size();
  int64_t first = t.storage_offset() * es;
  if (t.numel() == 0) return {first, first};
  int64_t last = t.storage_offset();
  const Shape strides = t.strides();
  for (int64_t d = 0; d < t.dim(); ++d) last += (t.sizes()[d] - 1) * strides[d];
  return {first, (last + 1) * es};
}

void check_no_internal_overlap(const char* name, const Tensor& t) {
  const Shape strides = t.strides();
  for (int64_t d = 0; d < t.dim(); ++d)
    if (strides[d] == 0 && t.sizes()[d] > 1)
      raise<RuntimeError>(name, ": unsupported operation: more than one element of the written-to tensor refers to a "
                                "single memory location. Please clone() the tensor before performing the operation.");
}

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  std::optional<Device> found;
  std::optional<Device> cpu_scalar;
  for (const Tensor* t : tensors) {
    if (t == nullptr || !t->defined()) continue;
    Device d = t->device();
    if (d.is_cpu() && t->dim() == 0) {
      cpu_scalar = d;
      continue;
    }
    if (found && !(*found == d))
      raise<DeviceError>(op, ": expected all tensors to be on the same device, but found at least two devices, ",
                         found->str(), " and ", d.str(), "!");
    found = d;
  }
  if (found) return *found;
  return cpu_scalar ? *cpu_scalar : Device(kCPU);
}

namespace {

std::complex<double> scalar_value(const Scalar& s) { return s.to_complex(); }

bool overlaps(const Tensor& a, const Tensor& b) {
  if (a.storage() != b.storage()) return false;
  auto [a0, a1] = byte_span(a);
  auto [b0, b1] = byte_span(b);
  return a0 < b1 && b0 < a1;
}

// Prepares one tensor input: device, dtype and aliasing with the output.
Tensor prepare_input(const Tensor& t, Dtype dtype, Device device, const Tensor* out) {
  Tensor x = t;
  if (x.device() != device) x = to(x, device, x.dtype(), false);
  if (x.dtype() != dtype) x = to(x, device, dtype, false);
  // An input that overlaps the output other than exactly (same memory, same
  // shape) would be read after being written: give the kernel a private copy.
  if (out != nullptr && x.is_same(t) && overlaps(x, *out) &&
      !(x.storage_offset() == out->storage_offset() && x.sizes() == out->sizes() && x.strides() == out->strides() &&
        x.dtype() == out->dtype()))
    x = clone(x);
  return x;
}

// The input's own strides in the output's index space (0 along broadcast dims).
void set_broadcast_strides(Operand& op, const Tensor& x, const Shape& out) {
  const Shape& in = x.sizes();
  const Shape strides = x.strides();
  int64_t offset = static_cast<int64_t>(out.size() - in.size());
  op.strides.fill(0);
  for (std::size_t i = 0; i < in.size(); ++i) op.strides[i + offset] = in[i] == 1 ? 0 : strides[i];
  op.contiguous = in == out && x.is_contiguous();
}

}  // namespace

Tensor elementwise(const char* name, const ElementwiseSpec& spec, std::initializer_list<Arg> args, Tensor* out) {
  std::vector<const Tensor*> tensors;
  for (const Arg& a : args) {
    if (!a.is_tensor()) continue;
    if (!a.tensor->defined()) raise<ValueError>(name, ": got an undefined tensor argument");
    if (a.tensor->is_sparse())
      raise<NotImplementedError>(name, ": not supported for sparse tensors (convert with to_dense())");
    tensors.push_back(a.tensor);
  }
  if (out) tensors.push_back(out);
  Device device = Device(kCPU);
  {
    std::optional<Device> found, cpu_scalar;
    for (const Tensor* t : tensors) {
      if (t->dim() == 0 && t->device().is_cpu() && t != out) {
        cpu_scalar = t->device();
        continue;
      }
      if (found && !(*found == t->device()))
        raise<DeviceError>(name, ": expected all tensors to be on the same device, but found at least two devices, ",
                           found->str(), " and ", t->device().str(), "!");
      found = t->device();
    }
    device = found ? *found : (cpu_scalar ? *cpu_scalar : Device(kCPU));
  }

  // A broadcasting copy's single input is smaller than its output.
  Shape shape = spec.op == BinaryOp::Copy && out ? out->sizes() : Shape{};
  for (const Arg& a : args)
    if (a.is_tensor()) shape = broadcast_shapes(shape, a.tensor->sizes());
  if (out && out->sizes() != shape)
    raise<ShapeError>(name, ": output with shape ", shape_to_string(out->sizes()),
                      " doesn't match the broadcast shape ", shape_to_string(shape));
  if (static_cast<int>(shape.size()) > kMaxDims)
    raise<NotImplementedError>(name, ": tensors with more than ", kMaxDims, " dimensions are not supported");

  Tensor result;
  bool direct = out && out->dtype() == spec.out_dtype;
  result = direct ? *out : empty(shape, spec.out_dtype, device);

  ElementwiseArgs ea;
  ea.numel = numel_of(shape);
  ea.ndim = static_cast<int>(shape.size());
  std::copy(shape.begin(), shape.end(), ea.sizes.begin());
  ea.scalars = spec.scalars;
  ea.has_min = spec.has_min;
  ea.has_max = spec.has_max;
  ea.tensor_weight = spec.tensor_weight;
  std::vector<Tensor> keep_alive;
  int i = 0;
  for (const Arg& a : args) {
    Operand& op = ea.inputs[i];
    bool is_condition = spec.op == BinaryOp::Where && i == 0;
    Dtype dtype = is_condition ? kBool : spec.compute;
    if (a.is_tensor()) {
      Tensor x = prepare_input(*a.tensor, dtype, device, direct ? out : nullptr);
      keep_alive.push_back(x);
      op.data = x.numel() ? x.data_ptr() : nullptr;
      set_broadcast_strides(op, x, shape);
    } else {
      op.is_scalar = true;
      op.scalar = scalar_value(a.scalar);
      op.contiguous = false;
    }
    op.dtype = dtype;
    ++i;
  }
  ea.ninputs = i;
  if (ea.numel > 0) {
    ea.out = result.data_ptr();
    ea.out_dtype = spec.out_dtype;
    if (!result.is_contiguous()) {
      check_no_internal_overlap(name, result);
      const Shape strides = result.strides();
      std::copy(strides.begin(), strides.end(), ea.out_strides.begin());
      ea.out_contiguous = false;
    }
    backend_for(device.type).elementwise(spec.op, ea);
  }
  if (out && !direct) {
    copy_(*out, result);
    return *out;
  }
  if (out) out->bump_version();
  return result;
}

Tensor unary(const char* name, UnaryOp op, const Tensor& t, Dtype compute, Dtype out_dtype, Tensor* out) {
  if (t.is_sparse()) raise<NotImplementedError>(name, ": not supported for sparse tensors (convert with to_dense())");
  // The backend's unary kernels walk dense memory.
  Tensor x = t.dtype() == compute ? t : to(t, t.device(), compute, false);
  if (!x.is_contiguous()) x = clone(x);
  bool direct = out && out->dtype() == out_dtype && out->is_contiguous();
  if (out && out->device() != t.device())
    raise<DeviceError>(name, ": expected all tensors to be on the same device, but found at least two devices, ",
                       out->device().str(), " and ", t.device().str(), "!");
  Tensor result = direct ? *out : empty(x.sizes(), out_dtype, x.device());
  if (x.numel() > 0)
    backend_for(x.device().type).unary(op, compute, x.data_ptr(), result.data_ptr(), out_dtype, x.numel());
  if (out && !direct) {
    copy_(*out, result);
    return *out;
  }
  if (out) out->bump_version();
  return result;
}

namespace {
Dtype floating_result(Dtype d) { return is_integral(d, true) ? get_default_dtype() : d; }

// An in-place op may only store its result if the result dtype casts safely.
void check_inplace(const char* name, Dtype result, const Tensor& self) {
  if (!can_cast(result, self.dtype()))
    raise<TypeError>(name, ": result type ", to_string(result), " can't be cast to the desired output type ",
                     to_string(self.dtype()));
}

void check_alpha(const char* name, Dtype dtype, const Scalar& alpha) {
  if (is_integral(dtype, true) && !alpha.is_integral(true))
    raise<TypeError>(name, ": for integral input tensors, argument alpha must not be a floating point number (got ",
                     alpha.str(), ")");
  if (dtype == kBool && alpha.is_integral(false) && alpha.to_long() != 1 && alpha.to_long() != 0)
    raise<TypeError>(name, ": boolean alpha only supported for Boolean results (got ", alpha.str(), ")");
}

bool is_bool_arg(const Arg& a) { return a.is_tensor() ? a.tensor->dtype() == kBool : a.scalar.is_bool(); }

// PyTorch refuses any bool operand of a subtraction, even one that promotes away.
void check_not_bool_sub(const char* name, const Arg& a, const Arg& b) {
  if (is_bool_arg(a) && is_bool_arg(b))
    raise<TypeError>(name, ": subtraction, the `-` operator, with two bool tensors is not supported. "
                           "For the elementwise difference of two masks use ne(a, b).");
  if (is_bool_arg(a) || is_bool_arg(b))
    raise<TypeError>(name, ": subtraction, the `-` operator, with a bool tensor is not supported. "
                           "To invert a mask use logical_not().");
}

// PyTorch's add kernel reads alpha and a number operand as the tensor's own
// dtype (float16/bfloat16 round them), unlike mul/div/lerp, which read numbers
// in float.
Scalar as_dtype(const Scalar& s, Dtype dtype) {
  if (dtype == kFloat16) return Scalar(static_cast<double>(static_cast<float>(Half(static_cast<float>(s.to_double())))));
  if (dtype == kBFloat16)
    return Scalar(static_cast<double>(static_cast<float>(BFloat16(static_cast<float>(s.to_double())))));
  return s;
}

Tensor add_like(const char* name, BinaryOp op, const Tensor& a, Arg b, const Scalar& alpha, Tensor* out) {
  Dtype dt = result_type({a, b});
  if (out) check_inplace(name, dt, *out);
  check_alpha(name, dt, alpha);
  if (op == BinaryOp::Sub) check_not_bool_sub(name, a, b);
  Scalar number = b.is_tensor() ? Scalar() : as_dtype(b.scalar, dt);
  Arg rhs = b.is_tensor() ? b : Arg(number);
  return elementwise(name, {op, dt, dt, {as_dtype(alpha, dt).to_complex(), 0.0}}, {a, rhs}, out);
}
}  // namespace

Tensor add(const Tensor& a, Arg b, const Scalar& alpha) { return add_like("add", BinaryOp::Add, a, b, alpha, nullptr); }
Tensor& add_(Tensor& self, Arg b, const Scalar& alpha) {
  add_like("add_", BinaryOp::Add, self, b, alpha, &self);
  return self;
}
Tensor sub(const Tensor& a, Arg b, const Scalar& alpha) { return add_like("sub", BinaryOp::Sub, a, b, alpha, nullptr); }
Tensor& sub_(Tensor& self, Arg b, const Scalar& alpha) {
  add_like("sub_", BinaryOp::Sub, self, b, alpha, &self);
  return self;
}
Tensor rsub(const Tensor& a, const Scalar& b) {
  Dtype dt = result_type({a, b});
  check_not_bool_sub("rsub", a, b);
  // b - a computed as (-a) + b would round differently for -0; use Sub with a scalar first operand.
  Tensor bt = full({}, b, {.dtype = dt, .device = a.device()});
  return elementwise("rsub", {BinaryOp::Sub, dt, dt, {1.0, 0.0}}, {bt, a}, nullptr);
}

Tensor mul(const Tensor& a, Arg b) {
  Dtype dt = result_type({a, b});
  return elementwise("mul", {BinaryOp::Mul, dt, dt}, {a, b});
}
Tensor& mul_(Tensor& self, Arg b) {
  Dtype dt = result_type({self, b});
  check_inplace("mul_", dt, self);
  elementwise("mul_", {BinaryOp::Mul, dt, dt}, {self, b}, &self);
  return self;
}
Tensor div(const Tensor& a, Arg b) {
  Dtype dt = floating_result(result_type({a, b}));
  return elementwise("div", {BinaryOp::Div, dt, dt}, {a, b});
}
Tensor& div_(Tensor& self, Arg b) {
  Dtype dt = floating_result(result_type({self, b}));
  check_inplace("div_", dt, self);
  elementwise("div_", {BinaryOp::Div, dt, dt}, {self, b}, &self);
  return self;
}
Tensor rdiv(const Tensor& a, const Scalar& b) {
  Dtype dt = floating_result(result_type({a, b}));
  Tensor bt = full({}, b, {.dtype = dt, .device = a.device()});
  return elementwise("rdiv", {BinaryOp::Div, dt, dt}, {bt, a});
}

namespace {
// torch.pow(t, 0) is all ones and torch.pow(t, 1) a copy, for every dtype (bool included).
std::optional<Tensor> pow_shortcut(const Tensor& base, const Arg& exponent, Dtype dt) {
  if (exponent.is_tensor()) return std::nullopt;
  std::complex<double> e = exponent.scalar.to_complex();
  if (e == 0.0) {
    Tensor ones = empty(base.sizes(), dt, base.device());
    return fill_(ones, 1);
  }
  if (e == 1.0) return to(base, base.device(), dt, true);
  return std::nullopt;
}
}  // namespace

Tensor pow(Arg base, Arg exponent) {
  Dtype dt = result_type({base, exponent});
  if (base.is_tensor())
    if (auto r = pow_shortcut(*base.tensor, exponent, dt)) return *r;
  if (!base.is_tensor()) {
    // A number base becomes a 0-dim tensor of the result dtype (torch.pow(2, t)).
    Tensor b = full({}, base.scalar, {.dtype = dt, .device = exponent.tensor->device()});
    return elementwise("pow", {BinaryOp::Pow, dt, dt}, {b, exponent});
  }
  if (is_integral(dt, true) && !exponent.is_tensor() && exponent.scalar.is_integral(false) && exponent.scalar.to_long() < 0)
    raise<ValueError>("pow: integers to negative integer powers are not allowed (exponent ", exponent.scalar.str(), ")");
  return elementwise("pow", {BinaryOp::Pow, dt, dt}, {base, exponent});
}
Tensor& pow_(Tensor& self, Arg exponent) {
  Dtype dt = result_type({self, exponent});
  check_inplace("pow_", dt, self);
  if (auto r = pow_shortcut(self, exponent, dt)) return copy_(self, *r);
  elementwise("pow_", {BinaryOp::Pow, dt, dt}, {self, exponent}, &self);
  return self;
}

namespace {
Tensor binary_same(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  Dtype dt = result_type({a, b});
  if (is_complex(dt)) raise<TypeError>(name, ": not implemented for complex tensors");
  return elementwise(name, {op, dt, dt}, {a, b});
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return binary_same("maximum", BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_same("minimum", BinaryOp::Minimum, a, b); }
Tensor atan2(const Tensor& a, const Tensor& b) {
  Dtype dt = floating_result(result_type({a, b}));
  if (is_complex(dt)) raise<TypeError>("atan2: not implemented for complex tensors");
  return elementwise("atan2", {BinaryOp::Atan2, dt, dt}, {a, b});
}

Tensor compare(BinaryOp op, const char* name, const Tensor& a, Arg b) {
  Dtype dt = result_type({a, b});
  if (is_complex(dt) && op != BinaryOp::Eq && op != BinaryOp::Ne)
    raise<TypeError>(name, ": ordering comparisons are not supported for complex tensors");
  return elementwise(name, {op, dt, kBool}, {a, b});
}

Tensor logical(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  Dtype dt = result_type({a, b});
  return elementwise(name, {op, dt, kBool}, {a, b});
}

Tensor clamp(const Tensor& t, std::optional<Arg> min, std::optional<Arg> max, Tensor* out) {
  if (!min && !max) raise<ValueError>("clamp: at least one of 'min' or 'max' must not be None");
  if (is_complex(t.dtype())) raise<TypeError>("clamp: is not supported for complex types");
  bool tensors = (min && min->is_tensor()) || (max && max->is_tensor());
  if (tensors && t.dtype() == kBool && (!min || !max)) {
    // PyTorch clamps bool tensors by one tensor bound (clamp_min/clamp_max are maximum/minimum), not by two.
    const Arg& bound = min ? *min : *max;
    Dtype dt = result_type({t, bound});
    if (out) check_inplace("clamp_", dt, *out);
    return elementwise(out ? "clamp_" : "clamp", {min ? BinaryOp::Maximum : BinaryOp::Minimum, dt, dt}, {t, bound}, out);
  }
  ElementwiseSpec spec{BinaryOp::Clamp, kFloat32, kFloat32};
  spec.has_min = min.has_value();
  spec.has_max = max.has_value();
  Dtype dt;
  if (tensors) {
    // Missing tensor bounds are passed as the input itself (ignored by the kernel).
    const Arg lo = min ? *min : Arg(t);
    const Arg hi = max ? *max : Arg(t);
    dt = result_type({t, lo, hi});
    if (out) check_inplace("clamp_", dt, *out);
    spec.compute = spec.out_dtype = dt;
    return elementwise(out ? "clamp_" : "clamp", spec, {t, lo, hi}, out);
  }
  dt = min && max ? result_type({t, *min, *max}) : result_type({t, min ? *min : *max});
  if (out) check_inplace("clamp_", dt, *out);
  spec.compute = spec.out_dtype = dt;
  if (min) spec.scalars[0] = min->scalar.to_complex();
  if (max) spec.scalars[1] = max->scalar.to_complex();
  return elementwise(out ? "clamp_" : "clamp", spec, {t}, out);
}

Tensor where(const Tensor& condition, Arg a, Arg b) {
  if (condition.dtype() != kBool)
    raise<TypeError>("where: expected condition to be a boolean tensor, but got a tensor with dtype ",
                     to_string(condition.dtype()));
  Dtype dt = result_type({a, b});
  return elementwise("where", {BinaryOp::Where, dt, dt}, {condition, a, b});
}

Tensor lerp(const Tensor& start, const Tensor& end, Arg weight, Tensor* out) {
  const char* name = out ? "lerp_" : "lerp";
  if (start.dtype() != end.dtype())
    raise<TypeError>(name, ": expected dtype ", to_string(start.dtype()), " for `end` but got dtype ",
                     to_string(end.dtype()));
  ElementwiseSpec spec{BinaryOp::Lerp, start.dtype(), start.dtype()};
  if (weight.is_tensor()) {
    if (weight.tensor->dtype() != start.dtype())
      raise<TypeError>(name, ": expected dtype ", to_string(start.dtype()), " for `weight` but got dtype ",
                       to_string(weight.tensor->dtype()));
    spec.tensor_weight = true;
    return elementwise(name, spec, {start, end, weight}, out);
  }
  spec.scalars[0] = weight.scalar.to_complex();
  return elementwise(name, spec, {start, end}, out);
}

Tensor addcmul(const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value, Tensor* out) {
  Dtype dt = result_type({t, t1, t2});
  if (out) check_inplace("addcmul_", dt, *out);
  return elementwise(out ? "addcmul_" : "addcmul", {BinaryOp::Addcmul, dt, dt, {value.to_complex(), 0.0}}, {t, t1, t2},
                     out);
}

Tensor addcdiv(const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value, Tensor* out) {
  if (is_integral(t1.dtype(), true) && is_integral(t2.dtype(), true))
    raise<TypeError>("addcdiv: integer division with addcdiv is no longer supported (tensor1 and tensor2 have dtypes ",
                     to_string(t1.dtype()), " and ", to_string(t2.dtype()), "); use floating point tensors");
  Dtype dt = result_type({t, t1, t2});
  if (out) check_inplace("addcdiv_", dt, *out);
  return elementwise(out ? "addcdiv_" : "addcdiv", {BinaryOp::Addcdiv, dt, dt, {value.to_complex(), 0.0}}, {t, t1, t2},
                     out);
}

Tensor threshold_backward(const Tensor& grad, const Tensor& input, double threshold) {
  Dtype dt = result_type({grad, input});
  return elementwise("threshold_backward", {BinaryOp::ThresholdBackward, dt, dt, {threshold, 0.0}}, {grad, input});
}

Tensor unary_float(const char* name, UnaryOp op, const Tensor& t, Tensor* out) {
  Dtype dt = floating_result(t.dtype());
  if (out) check_inplace(name, dt, *out);
  return unary(name, op, t, dt, dt, out);
}

Tensor unary_same(const char* name, UnaryOp op, const Tensor& t, Tensor* out) {
  if (op == UnaryOp::Neg && t.dtype() == kBool)
    raise<TypeError>(name, ": negation, the `-` operator, on a bool tensor is not supported. "
                           "To invert a mask use logical_not().");
  if (op == UnaryOp::Sign && is_complex(t.dtype()))
    raise<TypeError>(name, ": sign is defined for real dtypes only, got ", to_string(t.dtype()),
                     " (for complex z, z / abs(z) is its direction)");
  if (op == UnaryOp::Sign && t.dtype() == kBool) {
    // sign(x) == x for bools.
    if (!out) return clone(t);
    out->bump_version();
    return *out;
  }
  return unary(name, op, t, t.dtype(), t.dtype(), out);
}

Tensor abs(const Tensor& t, Tensor* out) {
  if (out && is_complex(t.dtype())) raise<TypeError>("abs_: in-place abs is not supported for complex tensors");
  return unary(out ? "abs_" : "abs", UnaryOp::Abs, t, t.dtype(), to_real_dtype(t.dtype()), out);
}

Tensor real(const Tensor& t) {
  if (!is_complex(t.dtype())) return t;
  return unary("real", UnaryOp::Real, t, t.dtype(), to_real_dtype(t.dtype()));
}
Tensor imag(const Tensor& t) {
  if (!is_complex(t.dtype())) raise<TypeError>("imag: is not implemented for tensors with non-complex dtypes (got ", to_string(t.dtype()), ")");
  return unary("imag", UnaryOp::Imag, t, t.dtype(), to_real_dtype(t.dtype()));
}
Tensor angle(const Tensor& t) {
  Dtype dt = is_complex(t.dtype()) ? t.dtype() : floating_result(t.dtype());
  return unary("angle", UnaryOp::Angle, t, dt, to_real_dtype(dt));
}

Tensor predicate(const char* name, UnaryOp op, const Tensor& t) { return unary(name, op, t, t.dtype(), kBool); }

Tensor softplus(const Tensor& t, double beta, double threshold) {
  if (!is_floating_point(t.dtype()))
    raise<TypeError>("softplus: expected a floating point tensor, got ", to_string(t.dtype()));
  // PyTorch's kernel: x * beta > threshold ? x : log1p(exp(x * beta)) / beta, each step rounded.
  Tensor scaled = mul(t, Scalar(beta));
  Tensor smooth = div(unary_float("softplus", UnaryOp::Log1p, unary_float("softplus", UnaryOp::Exp, scaled)), Scalar(beta));
  return where(compare(BinaryOp::Gt, "softplus", scaled, Scalar(threshold)), t, smooth);
}

}  // namespace descent::native
