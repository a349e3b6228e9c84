// Every error path of the tensor core: the exception type and the message
// (which names the op, the argument, the value and the rule). None of these
// may crash or abort.
#include <doctest/doctest.h>

#include <limits>

#include "descent/descent.h"

using namespace descent;
using doctest::Contains;

TEST_CASE("broadcasting: shapes that cannot be broadcast") {
  Tensor a = ones({2, 3}), b = ones({3, 2});
  CHECK_THROWS_WITH_AS(add(a, b), Contains("The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(mul(ones({4}), ones({5})), Contains("shapes [4] and [5] cannot be broadcast"), ShapeError);
  CHECK_THROWS_WITH_AS(where(ones({2}, {.dtype = kBool}), ones({3}), ones({2})), Contains("must match"), ShapeError);
  CHECK_THROWS_WITH_AS(lerp(ones({2}), ones({3}), 0.5), Contains("must match"), ShapeError);
  CHECK_THROWS_WITH_AS(addcmul(ones({2}), ones({2}), ones({4})), Contains("must match"), ShapeError);
  CHECK_THROWS_WITH_AS(broadcast_shapes({2, 0}, {3}), Contains("cannot be broadcast"), ShapeError);
  CHECK_THROWS_WITH_AS(ones({2}).expand({3}), Contains("expanded size of the tensor (3) must match the existing size (2)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(ones({2, 2}).expand({2}), Contains("must be greater or equal to the number of dimensions"),
                       ShapeError);
}

TEST_CASE("in-place ops cannot broadcast to a smaller output") {
  Tensor a = ones({3});
  CHECK_THROWS_WITH_AS(a.add_(ones({2, 3})), Contains("add_: output with shape [3] doesn't match the broadcast shape [2, 3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(a.mul_(ones({2, 1})), Contains("output with shape [3] doesn't match the broadcast shape [2, 3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(a.lerp_(ones({2, 3}), 0.5), Contains("doesn't match the broadcast shape"), ShapeError);
  CHECK_THROWS_WITH_AS(a.addcdiv_(ones({2, 3}), ones({3})), Contains("doesn't match the broadcast shape"), ShapeError);
  CHECK_THROWS_WITH_AS(a.clamp_(std::optional<Tensor>(ones({2, 3}))), Contains("doesn't match the broadcast shape"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(a.copy_(ones({2, 3})), Contains("copy_: source of shape [2, 3] cannot be broadcast to the destination shape [3]"),
                       ShapeError);
  // Nothing was written by the failed calls.
  CHECK(a.sum().item<float>() == 3.0f);
}

TEST_CASE("in-place ops cannot store a result their dtype cannot hold") {
  Tensor i = tensor<int64_t>({1, 4, 9});
  CHECK_THROWS_WITH_AS(i.sqrt_(), Contains("sqrt_: result type torch.float32 can't be cast to the desired output type torch.int64"),
                       TypeError);
  CHECK_THROWS_WITH_AS(i.div_(2), Contains("div_: result type torch.float32 can't be cast to the desired output type torch.int64"),
                       TypeError);
  CHECK_THROWS_WITH_AS(i.add_(1.5), Contains("can't be cast to the desired output type torch.int64"), TypeError);
  CHECK_THROWS_WITH_AS(i.mul_(ones({3})), Contains("result type torch.float32 can't be cast"), TypeError);
  CHECK_THROWS_WITH_AS(i.pow_(0.5), Contains("pow_: result type torch.float32 can't be cast"), TypeError);
  CHECK_THROWS_WITH_AS(i.clamp_(0.5, 2.5), Contains("clamp_: result type torch.float32 can't be cast"), TypeError);
  CHECK_THROWS_WITH_AS(i.exp_(), Contains("exp_: result type torch.float32 can't be cast"), TypeError);
  Tensor b = ones({2}, {.dtype = kBool});
  CHECK_THROWS_WITH_AS(b.add_(1), Contains("result type torch.int64 can't be cast to the desired output type torch.bool"),
                       TypeError);
  Tensor f = ones({2});
  CHECK_THROWS_WITH_AS(f.add_(Scalar(std::complex<double>(1, 1))),
                       Contains("result type torch.complex64 can't be cast to the desired output type torch.float32"),
                       TypeError);
  CHECK_THROWS_WITH_AS(f.addcmul_(ones({2}, {.dtype = kComplex64}), ones({2})), Contains("can't be cast"), TypeError);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 4, 9});
  // Widening in place is fine: an int result into a float tensor.
  f.add_(tensor<int64_t>({1, 2}));
  CHECK(f.to_vector<float>() == std::vector<float>{2, 3});
}

TEST_CASE("views: bad shapes, dims and indices") {
  Tensor x = arange(12, {.dtype = kFloat32});
  CHECK_THROWS_WITH_AS(x.view({5, 3}), Contains("view: shape '[5, 3]' is invalid for input of size 12"), ShapeError);
  CHECK_THROWS_WITH_AS(x.reshape({-1, 5}), Contains("shape '[-1, 5]' is invalid for input of size 12"), ShapeError);
  CHECK_THROWS_WITH_AS(x.view({-1, -1}), Contains("only one dimension can be inferred"), ShapeError);
  CHECK_THROWS_WITH_AS(x.view({-2, 6}), Contains("invalid shape dimension -2"), ShapeError);
  CHECK_THROWS_WITH_AS(empty({0}).view({-1, 0}), Contains("is invalid for input of size 0"), ShapeError);
  Tensor m = x.view({3, 4});
  CHECK_THROWS_WITH_AS(m.size(2), Contains("size: dimension out of range (expected to be in range of [-2, 1], but got 2)"),
                       IndexError);
  CHECK_THROWS_WITH_AS(m.select(2, 0), Contains("select: dimension out of range"), IndexError);
  CHECK_THROWS_WITH_AS(m.select(0, 3), Contains("select: index 3 is out of bounds for dimension 0 with size 3"), IndexError);
  CHECK_THROWS_WITH_AS(m[-4], Contains("index -4 is out of bounds for dimension 0 with size 3"), IndexError);
  CHECK_THROWS_WITH_AS(m.narrow(0, 2, 2), Contains("narrow: start (2) + length (2) exceeds dimension size (3)"), IndexError);
  CHECK_THROWS_WITH_AS(m.narrow(1, 5, 0), Contains("narrow: start (5) is out of range for dimension 1 of size 4"), IndexError);
  CHECK_THROWS_WITH_AS(m.narrow(0, 0, -1), Contains("exceeds dimension size"), IndexError);
  CHECK_THROWS_WITH_AS(m.narrow(-3, 0, 1), Contains("narrow: dimension out of range"), IndexError);
  CHECK_THROWS_WITH_AS(m.unsqueeze(3), Contains("unsqueeze: dimension out of range (expected to be in range of [-3, 2], but got 3)"),
                       IndexError);
  CHECK_THROWS_WITH_AS(m.squeeze(2), Contains("squeeze: dimension out of range"), IndexError);
  CHECK_THROWS_WITH_AS(m.flatten(0, 2), Contains("flatten: dimension out of range"), IndexError);
  CHECK_THROWS_WITH_AS(x.view({2, 2, 3}).flatten(2, 1), Contains("start_dim (2) cannot come after end_dim (1)"), ValueError);
  CHECK_THROWS_WITH_AS(m.transpose(0, 2), Contains("transpose: dimension out of range"), IndexError);
  CHECK_THROWS_WITH_AS(m.permute({0}), Contains("permute: number of dims in [0] doesn't match the tensor's 2 dims"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(m.permute({1, 1}), Contains("permute: repeated dim 1"), ValueError);
  CHECK_THROWS_WITH_AS(x.view({2, 2, 3}).t(), Contains("t: expects a tensor with <= 2 dimensions, but self is 3D"),
                       ShapeError);
  Tensor s = scalar_tensor(1.0);
  CHECK_THROWS_WITH_AS(s.select(0, 0), Contains("select: invalid index of a 0-dim tensor"), IndexError);
  CHECK_THROWS_WITH_AS(s.narrow(0, 0, 1), Contains("narrow: cannot be applied to a 0-dim tensor"), IndexError);
  CHECK_THROWS_WITH_AS(s.size(1), Contains("dimension out of range (expected to be in range of [-1, 0], but got 1)"),
                       IndexError);
  CHECK_THROWS_WITH_AS(view_as_real(x), Contains("view_as_real: is only supported for complex tensors"), TypeError);
  CHECK_THROWS_WITH_AS(view_as_complex(x), Contains("tensor must have a last dimension of size 2, but got shape [12]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(view_as_complex(ones({2}, {.dtype = kFloat16})),
                       Contains("only supported for float32 and float64 tensors"), TypeError);
  CHECK_THROWS_WITH_AS(view_as_complex(x.narrow(0, 1, 2)), Contains("storage_offset divisible by 2, but got 1"),
                       ValueError);
}

TEST_CASE("unsupported dtypes") {
  Tensor c = ones({2}, {.dtype = kComplex64});
  Tensor b = ones({2}, {.dtype = kBool});
  Tensor i = ones({2}, {.dtype = kInt64});
  // Math functions of integers give floats, as PyTorch.
  CHECK(sqrt(i).dtype() == kFloat32);
  CHECK(i.exp().dtype() == kFloat32);
  CHECK(b.log().dtype() == kFloat32);
  CHECK_THROWS_WITH_AS(c.lt(c), Contains("lt: ordering comparisons are not supported for complex tensors"), TypeError);
  CHECK_THROWS_WITH_AS(c.ge(1), Contains("ge: ordering comparisons are not supported for complex tensors"), TypeError);
  CHECK_THROWS_WITH_AS(maximum(c, c), Contains("maximum: not implemented for complex tensors"), TypeError);
  CHECK_THROWS_WITH_AS(minimum(ones({2}), c), Contains("minimum: not implemented for complex tensors"), TypeError);
  CHECK_THROWS_WITH_AS(c.clamp(0, 1), Contains("clamp: is not supported for complex types"), TypeError);
  CHECK_THROWS_WITH_AS(c.max(), Contains("max: is not supported for complex tensors"), TypeError);
  CHECK_THROWS_WITH_AS(c.amin(), Contains("amin: is not supported for complex tensors"), TypeError);
  CHECK_THROWS_WITH_AS(sign(c), Contains("sign"), TypeError);
  CHECK_THROWS_WITH_AS(c.abs_(), Contains("abs_: in-place abs is not supported for complex tensors"), TypeError);
  CHECK_THROWS_WITH_AS(neg(b), Contains("negation, the `-` operator, on a bool tensor is not supported"), TypeError);
  CHECK_THROWS_WITH_AS(-b, Contains("on a bool tensor is not supported"), TypeError);
  CHECK_THROWS_WITH_AS(sub(b, b), Contains("subtraction, the `-` operator, with two bool tensors is not supported"),
                       TypeError);
  CHECK_THROWS_WITH_AS(1 - b, Contains("rsub: subtraction, the `-` operator, with a bool tensor is not supported"),
                       TypeError);
  CHECK_THROWS_WITH_AS(sub(ones({2}), true), Contains("with a bool tensor is not supported"), TypeError);
  CHECK_THROWS_AS(abs(b), descent::Error);
  CHECK_THROWS_WITH_AS(addcdiv(i, i, i), Contains("integer division with addcdiv is no longer supported"), TypeError);
  CHECK_THROWS_AS(addcmul(b, b, b), descent::Error);
  CHECK_THROWS_AS(lerp(i, i, 0.5), descent::Error);
  CHECK_THROWS_WITH_AS(lerp(ones({2}), ones({2}, {.dtype = kFloat64}), 0.5),
                       Contains("lerp: expected dtype torch.float32 for `end` but got dtype torch.float64"), TypeError);
  CHECK_THROWS_WITH_AS(lerp(ones({2}), ones({2}), ones({2}, {.dtype = kFloat64})),
                       Contains("expected dtype torch.float32 for `weight` but got dtype torch.float64"), TypeError);
  CHECK_THROWS_WITH_AS(add(i, i, 0.5), Contains("for integral input tensors, argument alpha must not be a floating point number (got 0.5)"),
                       TypeError);
  CHECK_THROWS_WITH_AS(add(b, b, 2), Contains("boolean alpha only supported for Boolean results (got 2)"), TypeError);
  CHECK_THROWS_WITH_AS(pow(i, -1), Contains("integers to negative integer powers are not allowed (exponent -1)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(where(i, i, i), Contains("where: expected condition to be a boolean tensor, but got a tensor with dtype torch.int64"),
                       TypeError);
  CHECK_THROWS_WITH_AS(i.mean(), Contains("mean(): could not infer output dtype"), TypeError);
  CHECK_THROWS_WITH_AS(i.norm(), Contains("norm: expected a floating point or complex tensor as input, got torch.int64"),
                       TypeError);
  CHECK_THROWS_WITH_AS(matmul(b.view({1, 2}), b.view({2, 1})), Contains("matmul: not implemented for bool tensors"),
                       NotImplementedError);
  CHECK_THROWS_WITH_AS(dot(b, b), Contains("dot: not implemented for bool tensors"), NotImplementedError);
  CHECK(matmul(ones({2, 0}, {.dtype = kBool}), ones({0, 3}, {.dtype = kBool})).sum().item<int64_t>() == 0);
  CHECK_THROWS_WITH_AS(imag(ones({2})), Contains("imag: is not implemented for tensors with non-complex dtypes"), TypeError);
  CHECK_THROWS_WITH_AS(ones({2}).fill_(Scalar(std::complex<double>(1, 1))),
                       Contains("fill_: cannot fill a tensor of dtype torch.float32 with the complex value (1+1j)"),
                       TypeError);
  CHECK_THROWS_WITH_AS(ones({2}).fill_(ones({2})), Contains("fill_: only supports a 0-dimension value tensor"), ValueError);
  CHECK_THROWS_WITH_AS(result_type(ones({2}, {.dtype = kFloat16}), Scalar(std::complex<double>(0, 1))),
                       Contains("torch.float16 has no complex counterpart"), TypeError);
  CHECK_THROWS_WITH_AS(ones({2}, {.dtype = kInt64, .requires_grad = true}),
                       Contains("only Tensors of floating point and complex dtype can require gradients"), RuntimeError);
}

TEST_CASE("linear algebra and joining: shape and dtype errors") {
  CHECK_THROWS_WITH_AS(matmul(ones({2, 3}), ones({2, 3})), Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(matmul(scalar_tensor(1.0), ones({2})), Contains("both arguments need to be at least 1D, but they are 0D and 1D"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(matmul(ones({2, 2}), ones({2, 2}, {.dtype = kFloat64})),
                       Contains("expected m1 and m2 to have the same dtype, but got: torch.float32 != torch.float64"),
                       TypeError);
  CHECK_THROWS_WITH_AS(matmul(ones({2, 2, 3}), ones({3, 3, 2})), Contains("must match"), ShapeError);
  CHECK_THROWS_WITH_AS(dot(ones({2, 2}), ones({2})), Contains("dot: 1D tensors expected, but got 2D and 1D tensors"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(dot(ones({2}), ones({3})), Contains("inconsistent tensor size"), ShapeError);
  CHECK_THROWS_WITH_AS(vdot(ones({2}), ones({2}, {.dtype = kFloat64})),
                       Contains("vdot: expected both vectors to have same dtype, but found torch.float32 and torch.float64"),
                       TypeError);
  CHECK_THROWS_WITH_AS(cat({}), Contains("cat: expected a non-empty list of Tensors"), ValueError);
  CHECK_THROWS_WITH_AS(cat({ones({2, 3}), ones({2, 4})}),
                       Contains("Expected size 3 but got size 4 for tensor number 1 in the list"), ShapeError);
  CHECK_THROWS_WITH_AS(cat({ones({2, 3}), ones({3})}), Contains("tensors must have same number of dimensions: got 2 and 1"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(cat({scalar_tensor(1.0)}), Contains("zero-dimensional tensor (at position 0) cannot be concatenated"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(cat({ones({2}), ones({2})}, 1), Contains("cat: dimension out of range"), IndexError);
  CHECK_THROWS_WITH_AS(stack({}), Contains("stack: expects a non-empty TensorList"), ValueError);
  CHECK_THROWS_WITH_AS(stack({ones({2}), ones({3})}), Contains("expects each tensor to be equal size, but got [2] at entry 0 and [3] at entry 1"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(stack({ones({2}), ones({2})}, 2), Contains("stack: dimension out of range"), IndexError);
}

TEST_CASE("factories: bad arguments and sizes that overflow") {
  constexpr int64_t big = int64_t{1} << 40;
  CHECK_THROWS_WITH_AS(zeros({big, big}), Contains("invalid shape [1099511627776, 1099511627776]: number of elements overflows int64"),
                       ValueError);
  CHECK_THROWS_WITH_AS(empty({-1, 2}), Contains("invalid shape [-1, 2]: negative dimension -1"), ValueError);
  CHECK_THROWS_WITH_AS(ones({big, big, 0, big}), Contains("overflows int64"), ValueError);
  // Empty, but the strides of its other dimensions would overflow: refused, as in PyTorch.
  CHECK_THROWS_WITH_AS(zeros({0, big, big}), Contains("stride calculation overflows int64"), ValueError);
  CHECK_THROWS_WITH_AS(empty({0}).view({0, big, big}), Contains("stride calculation overflows int64"), ValueError);
  CHECK(zeros({0, big}).numel() == 0);
  CHECK_THROWS_WITH_AS(arange(0.0, 1e20, 1.0), Contains("arange: invalid size, possible overflow?"), ValueError);
  CHECK_THROWS_WITH_AS(arange(0.0, 1.0, 1e-300), Contains("invalid size"), ValueError);
  // The whole int64 range is a valid randint range.
  Tensor r = randint(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), {64});
  CHECK(r.numel() == 64);
  CHECK(r.min().item<int64_t>() < 0);
  CHECK_THROWS_WITH_AS(empty({int64_t{1} << 62}, {.dtype = kFloat64}), Contains("needs more bytes than size_t can hold"),
                       ValueError);
  CHECK_THROWS_WITH_AS(full({std::numeric_limits<int64_t>::max(), 2}, 1.0), Contains("overflows int64"), ValueError);
  CHECK_THROWS_WITH_AS(arange(0, 3, 0), Contains("arange: step must be nonzero"), ValueError);
  CHECK_THROWS_WITH_AS(linspace(0, 1, -2), Contains("linspace: number of steps must be non-negative (got -2)"), ValueError);
  CHECK_THROWS_WITH_AS(randint(3, 3, {2}), Contains("expects 'from' to be less than 'to', but got from=3 >= to=3"),
                       ValueError);
  CHECK_THROWS_WITH_AS(randperm(-1), Contains("randperm: n must be non-negative, got -1"), ValueError);
  CHECK_THROWS_WITH_AS(eye(-2), Contains("eye: n must be greater or equal to 0, got -2"), ValueError);
  CHECK_THROWS_WITH_AS(tensor(std::vector<float>{1, 2}, {3}), Contains("tensor: shape [3] needs 3 values but 2 were given"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(clamp(ones({2}), std::nullopt, std::nullopt),
                       Contains("clamp: at least one of 'min' or 'max' must not be None"), ValueError);
}

TEST_CASE("more dimensions than descent supports, and copies between overlapping memory") {
  Tensor deep = ones(Shape(kMaxDims + 1, 1));
  CHECK(deep.dim() == kMaxDims + 1);
  CHECK_THROWS_WITH_AS(deep + 1, Contains("tensors with more than 16 dimensions are not supported"), NotImplementedError);
  CHECK_THROWS_WITH_AS(deep.sum(), Contains("more than 16 dimensions"), NotImplementedError);
  CHECK(ones(Shape(kMaxDims, 1)).add(1).sum().item<float>() == 2.0f);
  Tensor x = arange(6, {.dtype = kFloat32});
  Tensor tail = x.narrow(0, 1, 5);
  CHECK_THROWS_WITH_AS(tail.copy_(x.narrow(0, 0, 5)),
                       Contains("some elements of the input tensor and the written-to tensor refer to a single memory location"),
                       RuntimeError);
  CHECK(x.to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  // Elementwise ops read overlapping inputs as they were: the result is the out-of-place one.
  tail.add_(x.narrow(0, 0, 5));
  CHECK(x.to_vector<float>() == std::vector<float>{0, 1, 3, 5, 7, 9});
}

TEST_CASE("devices: a CUDA device without a usable GPU, and mixed devices") {
  CHECK_THROWS_WITH_AS(Device("gpu"), Contains("Device: invalid device string 'gpu'"), ValueError);
  CHECK_THROWS_WITH_AS(Device("cuda:-1"), Contains("invalid device string 'cuda:-1'"), ValueError);
  CHECK_THROWS_WITH_AS(Device("cpu:1"), Contains("the CPU device has index 0 only"), ValueError);
  CHECK(Device("cuda:1") == Device(kCUDA, 1));
  Tensor x = ones({2});
  if (cuda::is_available()) {
    Tensor g = x.to(Device(kCUDA));
    CHECK(g.is_cuda());
    CHECK_THROWS_WITH_AS(add(x, g), Contains("expected all tensors to be on the same device, but found at least two devices, "),
                         DeviceError);
    CHECK_THROWS_WITH_AS(x.add_(g), Contains("expected all tensors to be on the same device"), DeviceError);
    CHECK_THROWS_WITH_AS(matmul(x, g), Contains("same device"), DeviceError);
    CHECK_THROWS_WITH_AS(cat({x, g}), Contains("same device"), DeviceError);
    // A 0-dim CPU tensor is a number: it may join a CUDA op.
    CHECK((g * scalar_tensor(2.0)).is_cuda());
    CHECK(equal(g.cpu(), x));
    MESSAGE("CUDA available: checked mixed-device errors on a real GPU");
  } else {
    CHECK_THROWS_AS(x.to(Device(kCUDA)), DeviceError);
    CHECK_THROWS_AS(x.cuda(), DeviceError);
    CHECK_THROWS_AS(zeros({2}, {.device = Device(kCUDA)}), DeviceError);
    CHECK_THROWS_AS(empty_like(x, {.device = Device("cuda:0")}), DeviceError);
    CHECK_THROWS_AS(arange(3, {.device = Device(kCUDA)}), DeviceError);
    MESSAGE("no usable GPU: checked that CUDA devices raise DeviceError");
  }
}

TEST_CASE("undefined tensors") {
  Tensor u;
  CHECK_FALSE(u.defined());
  CHECK_THROWS_WITH_AS(u.sizes(), Contains("operation on an undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.numel(), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.dtype(), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.device(), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.data_ptr(), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.item(), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.clone(), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.view({1}), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.sum(), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_WITH_AS(u.to(kFloat64), Contains("undefined tensor"), RuntimeError);
  CHECK_THROWS_AS(add(ones({2}), u), descent::Error);
  CHECK_THROWS_AS(add(u, ones({2})), descent::Error);
  CHECK_THROWS_AS(ones({2}).copy_(u), descent::Error);
  CHECK_THROWS_AS(u.sqrt(), descent::Error);
  CHECK_THROWS_AS(cat({ones({2}), u}), descent::Error);
  CHECK_THROWS_AS(matmul(u, u), descent::Error);
  CHECK(u.repr() == "tensor(undefined)");
}
