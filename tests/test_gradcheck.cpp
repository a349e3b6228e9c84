// gradcheck and gradgradcheck of every differentiable op, in float64 and
// (where the op takes complex numbers) complex128; and gradcheck's own reports.
#include <doctest/doctest.h>

#include "descent/descent.h"

using namespace descent;
namespace ag = descent::autograd;
namespace F = descent::nn::functional;

namespace {
using In = std::vector<Tensor>;
using Fn = std::function<Tensor(const In&)>;

Tensor rnd(const Shape& shape, uint64_t seed, Dtype dtype = kFloat64) {
  Generator g(seed);
  return randn(shape, {.dtype = dtype}, &g).requires_grad_();
}
// Bounded away from zero (for log, sqrt, division, ...).
Tensor positive(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return add(randn(shape, {.dtype = kFloat64}, &g).abs(), Scalar(0.5)).requires_grad_();
}
Tensor crnd(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return complex(randn(shape, {.dtype = kFloat64}, &g), randn(shape, {.dtype = kFloat64}, &g))
      .requires_grad_();
}
// Values 0.5 .. 0.5 + 0.3 (n - 1) in a random order: no ties, no zeros.
Tensor distinct(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor order = randperm(numel_of(shape), {}, &g).to(kFloat64);
  return add(mul(order, Scalar(0.3)), Scalar(0.5)).reshape(shape).detach().requires_grad_();
}

void check_op(const std::string& name, const Fn& fn, const In& inputs, bool second_order = true) {
  CAPTURE(name);
  CHECK(ag::gradcheck(fn, inputs));
  if (second_order) CHECK(ag::gradgradcheck(fn, inputs));
}
}  // namespace

TEST_SUITE("gradcheck") {
  TEST_CASE("binary and ternary elementwise ops (with broadcasting)") {
    Tensor a = rnd({2, 3}, 1), b = rnd({3}, 2), c = rnd({2, 1}, 3), pa = positive({2, 3}, 4),
           pb = positive({3}, 5);
    check_op("add", [](const In& x) { return add(x[0], x[1], 2.5); }, {a, b});
    check_op("add scalar", [](const In& x) { return add(x[0], Scalar(1.5), 2); }, {a});
    check_op("sub", [](const In& x) { return sub(x[0], x[1], 0.5); }, {a, c});
    check_op("rsub", [](const In& x) { return Scalar(2) - x[0]; }, {a});
    check_op("mul", [](const In& x) { return mul(x[0], x[1]); }, {a, b});
    check_op("mul scalar", [](const In& x) { return x[0] * 3.0; }, {a});
    check_op("div", [](const In& x) { return div(x[0], x[1]); }, {a, pb});
    check_op("div scalar", [](const In& x) { return x[0] / 4.0; }, {a});
    check_op("rdiv", [](const In& x) { return Scalar(2) / x[0]; }, {pa});
    check_op("pow tensor", [](const In& x) { return pow(x[0], x[1]); }, {pa, b});
    check_op("pow scalar", [](const In& x) { return pow(x[0], Scalar(3)); }, {a});
    check_op("pow fractional", [](const In& x) { return pow(x[0], Scalar(2.5)); }, {pa});
    check_op("pow zero", [](const In& x) { return pow(x[0], Scalar(0)); }, {a});
    check_op("pow scalar base", [](const In& x) { return pow(Scalar(1.7), x[0]); }, {a});
    check_op("square", [](const In& x) { return x[0].square(); }, {a});
    Tensor d1 = distinct({2, 3}, 6), d2 = add(distinct({2, 3}, 7), Scalar(0.1)).detach().requires_grad_();
    check_op("maximum", [](const In& x) { return maximum(x[0], x[1]); }, {d1, d2});
    check_op("minimum", [](const In& x) { return minimum(x[0], x[1]); }, {d1, d2});
    check_op("atan2", [](const In& x) { return atan2(x[0], x[1]); }, {a, pb});
    check_op("clamp", [](const In& x) { return clamp(x[0], Scalar(0.9), Scalar(1.6)); }, {d1});
    check_op("clamp_min", [](const In& x) { return x[0].clamp_min(Scalar(1.25)); }, {d1});
    check_op("clamp tensors", [](const In& x) { return x[0].clamp(x[1], add(x[1], Scalar(0.7))); }, {d1, d2});
    Tensor cond = a.detach().gt(Scalar(0));
    check_op("where", [cond](const In& x) { return where(cond, x[0], x[1]); }, {a, b});
    check_op("where scalar", [cond](const In& x) { return where(cond, x[0], Scalar(2.0)); }, {a});
    check_op("lerp", [](const In& x) { return lerp(x[0], x[1], Scalar(0.3)); }, {a, b});
    check_op("lerp tensor", [](const In& x) { return lerp(x[0], x[1], x[2]); }, {a, b, c});
    check_op("addcmul", [](const In& x) { return addcmul(x[0], x[1], x[2], 0.7); }, {a, b, c});
    check_op("addcdiv", [](const In& x) { return addcdiv(x[0], x[1], x[2], 0.7); },
             {a, b, positive({2, 1}, 8)});
  }

  TEST_CASE("unary ops") {
    Tensor a = rnd({2, 3}, 11), p = positive({2, 3}, 12), d = distinct({2, 3}, 13);
    check_op("neg", [](const In& x) { return -x[0]; }, {a});
    check_op("abs", [](const In& x) { return x[0].abs(); }, {p});
    check_op("sign", [](const In& x) { return x[0].sign(); }, {p});
    check_op("sqrt", [](const In& x) { return x[0].sqrt(); }, {p});
    check_op("rsqrt", [](const In& x) { return x[0].rsqrt(); }, {p});
    check_op("exp", [](const In& x) { return x[0].exp(); }, {a});
    check_op("log", [](const In& x) { return x[0].log(); }, {p});
    check_op("log1p", [](const In& x) { return log1p(x[0]); }, {p});
    check_op("reciprocal", [](const In& x) { return x[0].reciprocal(); }, {p});
    check_op("sigmoid", [](const In& x) { return x[0].sigmoid(); }, {a});
    check_op("tanh", [](const In& x) { return x[0].tanh(); }, {a});
    check_op("relu", [](const In& x) { return sub(x[0], Scalar(1.35)).relu(); }, {d});
    check_op("softplus", [](const In& x) { return softplus(x[0], 2.0, 3.0); }, {a});
    check_op("softplus above threshold", [](const In& x) { return softplus(mul(x[0], Scalar(8)), 1.0, 5.0); },
             {d});
  }

  TEST_CASE("complex ops (conjugate Wirtinger convention)") {
    Tensor z = crnd({3}, 21), w = crnd({3}, 22), r = rnd({3}, 23);
    check_op("add", [](const In& x) { return add(x[0], x[1], Scalar(std::complex<double>(1, 2))); }, {z, w});
    check_op("mul", [](const In& x) { return x[0] * x[1]; }, {z, w});
    check_op("mul real", [](const In& x) { return x[0] * x[1]; }, {z, r});
    check_op("div", [](const In& x) { return x[0] / x[1]; }, {z, w});
    check_op("exp", [](const In& x) { return x[0].exp(); }, {z});
    check_op("log", [](const In& x) { return x[0].log(); }, {z});
    check_op("sqrt", [](const In& x) { return x[0].sqrt(); }, {z});
    check_op("reciprocal", [](const In& x) { return x[0].reciprocal(); }, {z});
    check_op("pow", [](const In& x) { return pow(x[0], Scalar(3)); }, {z});
    check_op("abs", [](const In& x) { return x[0].abs(); }, {z});
    check_op("angle", [](const In& x) { return angle(x[0]); }, {z});
    check_op("conj", [](const In& x) { return x[0].conj() * x[1]; }, {z, w});
    check_op("real", [](const In& x) { return x[0].real(); }, {z});
    check_op("imag", [](const In& x) { return x[0].imag(); }, {z});
    check_op("view_as_real", [](const In& x) { return view_as_real(x[0]); }, {z});
    check_op("view_as_complex", [](const In& x) { return view_as_complex(x[0]); }, {rnd({3, 2}, 24)});
    check_op("complex", [](const In& x) { return complex(x[0], x[1]); }, {r, rnd({3}, 25)});
    check_op("sum", [](const In& x) { return (x[0] * x[0]).sum(); }, {z});
    check_op("mean", [](const In& x) { return x[0].mean(); }, {z});
    check_op("norm", [](const In& x) { return x[0].norm(); }, {z});
    check_op("dot", [](const In& x) { return dot(x[0], x[1]); }, {z, w});
    check_op("vdot", [](const In& x) { return vdot(x[0], x[1]); }, {z, w});
    check_op("matmul", [](const In& x) { return matmul(x[0], x[1]); }, {crnd({2, 3}, 26), crnd({3, 2}, 27)});
    check_op("sub", [](const In& x) { return sub(x[0], x[1], Scalar(std::complex<double>(0.5, -1))); }, {z, w});
    check_op("neg", [](const In& x) { return -x[0]; }, {z});
    check_op("square", [](const In& x) { return x[0].square(); }, {z});
    check_op("rsqrt", [](const In& x) { return x[0].rsqrt(); }, {z});
    check_op("pow tensor", [](const In& x) { return pow(x[0], x[1]); }, {z, w});
    check_op("lerp", [](const In& x) { return lerp(x[0], x[1], Scalar(0.3)); }, {z, w});
    check_op("addcmul", [](const In& x) { return addcmul(x[0], x[1], x[0], Scalar(std::complex<double>(1, 1))); }, {z, w});
    check_op("addcdiv", [](const In& x) { return addcdiv(x[0], x[1], x[0], 0.5); }, {z, w});
    Tensor cond = r.detach().gt(Scalar(0));
    check_op("where", [cond](const In& x) { return where(cond, x[0], x[1]); }, {z, w});
    check_op("cat stack select", [](const In& x) { return stack({cat({x[0], x[1]}), cat({x[1], x[0]})}, 1).select(0, 2); },
             {z, w});
    check_op("sum dims", [](const In& x) { return x[0].reshape({3, 1}).expand({3, 2}).sum({0}); }, {z});
    check_op("prod", [](const In& x) { return x[0].prod(); }, {z});
    check_op("tanh", [](const In& x) { return x[0].tanh(); }, {z});
    check_op("sigmoid", [](const In& x) { return x[0].sigmoid(); }, {z});
  }

  TEST_CASE("reductions") {
    Tensor a = rnd({2, 3}, 31), d = distinct({2, 3}, 32), p = positive({2, 3}, 33);
    check_op("sum", [](const In& x) { return x[0].sum(); }, {a});
    check_op("sum dims", [](const In& x) { return x[0].sum({0}, false); }, {a});
    check_op("sum keepdim", [](const In& x) { return x[0].sum({-1}, true); }, {a});
    check_op("sum dtype", [](const In& x) { return x[0].sum(kFloat64); }, {a});
    check_op("mean", [](const In& x) { return x[0].mean(); }, {a});
    check_op("mean dims", [](const In& x) { return x[0].mean({1}, false); }, {a});
    for (double pn : std::vector<double>{2.0, 1.0, 3.0, 1.5, 0.5, INFINITY, -INFINITY, 0.0}) {
      CAPTURE(pn);
      check_op("norm", [pn](const In& x) { return x[0].norm(pn); }, {d});
      check_op("norm dims", [pn](const In& x) { return x[0].norm(pn, {1}, false); }, {d});
    }
    check_op("prod", [](const In& x) { return x[0].prod(); }, {p});
    Tensor with_zero =
        tensor(std::vector<double>{1.5, 0.0, -2.0, 0.7}, {4}, {.dtype = kFloat64}).requires_grad_();
    check_op("prod with a zero", [](const In& x) { return x[0].prod(); }, {with_zero});
    check_op("max", [](const In& x) { return x[0].max(); }, {d});
    check_op("min", [](const In& x) { return x[0].min(); }, {d});
    check_op("max dim", [](const In& x) { return std::get<0>(x[0].max(1)); }, {d});
    check_op("min dim keepdim", [](const In& x) { return std::get<0>(x[0].min(0, true)); }, {d});
    check_op("amax", [](const In& x) { return x[0].amax({1}); }, {d});
    check_op("amin", [](const In& x) { return x[0].amin({0}, true); }, {d});
    check_op("dot", [](const In& x) { return dot(x[0], x[1]); }, {rnd({4}, 34), rnd({4}, 35)});
    check_op("vdot", [](const In& x) { return vdot(x[0], x[1]); }, {rnd({4}, 36), rnd({4}, 37)});
  }

  TEST_CASE("matmul in every arrangement") {
    check_op("mm", [](const In& x) { return matmul(x[0], x[1]); }, {rnd({2, 3}, 41), rnd({3, 4}, 42)});
    check_op("mv", [](const In& x) { return matmul(x[0], x[1]); }, {rnd({2, 3}, 43), rnd({3}, 44)});
    check_op("vm", [](const In& x) { return matmul(x[0], x[1]); }, {rnd({3}, 45), rnd({3, 2}, 46)});
    check_op("dot", [](const In& x) { return matmul(x[0], x[1]); }, {rnd({3}, 47), rnd({3}, 48)});
    check_op("batched", [](const In& x) { return matmul(x[0], x[1]); },
             {rnd({2, 2, 3}, 49), rnd({3, 2}, 50)});
    check_op("broadcast batch", [](const In& x) { return matmul(x[0], x[1]); },
             {rnd({2, 1, 2, 3}, 51), rnd({3, 3, 2}, 52)});
    check_op("batched vector", [](const In& x) { return matmul(x[0], x[1]); },
             {rnd({3}, 53), rnd({2, 3, 2}, 54)});
  }

  TEST_CASE("views, layout copies, cat and stack") {
    Tensor a = rnd({2, 3}, 61), b = rnd({2, 3}, 62);
    check_op("view", [](const In& x) { return x[0].view({3, 2}); }, {a});
    check_op("reshape", [](const In& x) { return x[0].reshape({-1}); }, {a});
    check_op("flatten", [](const In& x) { return x[0].unsqueeze(0).flatten(1); }, {a});
    check_op("narrow view", [](const In& x) { return x[0].narrow(0, 1, 1); }, {a});
    check_op("narrow copy", [](const In& x) { return x[0].narrow(1, 1, 2); }, {a});
    check_op("select", [](const In& x) { return x[0].select(1, -1); }, {a});
    check_op("squeeze", [](const In& x) { return x[0].unsqueeze(1).squeeze(); }, {a});
    check_op("squeeze dim", [](const In& x) { return x[0].unsqueeze(0).squeeze(0); }, {a});
    check_op("t", [](const In& x) { return x[0].t(); }, {a});
    check_op("transpose", [](const In& x) { return x[0].unsqueeze(0).transpose(0, 2); }, {a});
    check_op("permute", [](const In& x) { return x[0].unsqueeze(1).permute({2, 0, 1}); }, {a});
    check_op("expand", [](const In& x) { return x[0].unsqueeze(0).expand({4, 2, 3}); }, {a});
    check_op("cat", [](const In& x) { return cat({x[0], x[1]}, 1); }, {a, b});
    check_op("stack", [](const In& x) { return stack({x[0], x[1]}, 1); }, {a, b});
    check_op("clone", [](const In& x) { return x[0].clone(); }, {a});
    check_op("to complex", [](const In& x) { return x[0].to(kComplex128); }, {a});
  }

  TEST_CASE("in-place ops and writes through views") {
    Tensor a = rnd({2, 3}, 71), b = rnd({3}, 72), p = positive({2, 3}, 73);
    check_op("chain",
             [](const In& x) {
               Tensor y = x[0].clone();
               y.mul_(x[1]).add_(x[0], 0.5).sub_(Scalar(1)).div_(Scalar(2));
               return y;
             },
             {a, b});
    check_op("unary in-place",
             [](const In& x) {
               Tensor y = x[0].clone();
               y.sqrt_();
               y.exp_();
               return y;
             },
             {p});
    check_op(
        "lerp_ addcmul_ addcdiv_",
        [](const In& x) {
          Tensor y = x[0].clone();
          y.lerp_(x[1], Scalar(0.25)).addcmul_(x[1], x[0], 0.5).addcdiv_(x[0], add(x[1].abs(), Scalar(1)), 2);
          return y;
        },
        {a, b});
    check_op("copy_ into a buffer",
             [](const In& x) {
               Tensor buffer = zeros({2, 3}, {.dtype = kFloat64});
               buffer.copy_(x[1]);
               return buffer * x[0];
             },
             {a, b});
    check_op("view write",
             [](const In& x) {
               Tensor y = x[0].clone();
               y.select(0, 1).mul_(x[1]);
               return y;
             },
             {a, b});
    check_op("base write then view read",
             [](const In& x) {
               Tensor y = x[0].clone();
               Tensor row = y.narrow(0, 0, 1);
               y.mul_(x[1]);
               return row * 2;
             },
             {a, b});
    check_op("complex through view_as_real",
             [](const In& x) {
               Tensor y = x[0].clone();
               view_as_real(y).mul_(x[1].unsqueeze(1));
               return y;
             },
             {crnd({3}, 74), rnd({3}, 75)});
  }

  TEST_CASE("nn functional") {
    Tensor x = rnd({4, 3}, 81), w = rnd({2, 3}, 82), bias = rnd({2}, 83);
    check_op("linear", [](const In& i) { return F::linear(i[0], i[1], i[2]); }, {x, w, bias});
    check_op("linear no bias", [](const In& i) { return F::linear(i[0], i[1]); }, {x, w});
    check_op("log_softmax", [](const In& i) { return F::log_softmax(i[0], 1); }, {x});
    check_op("log_softmax dim 0", [](const In& i) { return F::log_softmax(i[0], 0); }, {x});
    check_op("softmax", [](const In& i) { return F::softmax(i[0], -1); }, {x});
    Tensor table = rnd({5, 3}, 84);
    Tensor idx = tensor(std::vector<int64_t>{0, 4, 1, 4}, {2, 2});
    check_op("embedding", [idx](const In& i) { return F::embedding(idx, i[0]); }, {table});
    // The padding row's gradient is zero by definition (not the true derivative): leave it out of the
    // lookups.
    check_op("embedding padding", [idx](const In& i) { return F::embedding(idx, i[0], 3); }, {table});
    Tensor gamma = positive({3}, 85), beta = rnd({3}, 86);
    check_op("batch_norm training",
             [](const In& i) { return F::batch_norm(i[0], Tensor(), Tensor(), i[1], i[2], true, 0.1, 1e-5); },
             {x, gamma, beta});
    check_op("batch_norm 3d",
             [](const In& i) { return F::batch_norm(i[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
             {rnd({2, 3, 2}, 87)});
    Tensor rm = rnd({3}, 88).detach(), rv = positive({3}, 89).detach();
    check_op("batch_norm eval",
             [rm, rv](const In& i) { return F::batch_norm(i[0], rm, rv, i[1], i[2], false); },
             {x, gamma, beta});
    Tensor target = rnd({4, 3}, 90).detach();
    check_op("mse_loss", [target](const In& i) { return F::mse_loss(i[0], target); }, {x});
    check_op("mse_loss sum", [](const In& i) { return F::mse_loss(i[0], i[1], "sum"); },
             {x, rnd({4, 3}, 91)});
    Tensor labels = tensor<int64_t>({0, 2, 1, 2});
    Tensor cw = positive({3}, 92).detach();
    check_op("nll_loss", [labels](const In& i) { return F::nll_loss(F::log_softmax(i[0], 1), labels); }, {x});
    check_op("cross_entropy weighted",
             [labels, cw](const In& i) { return F::cross_entropy(i[0], labels, cw, 1, "mean", 0.1); }, {x});
    check_op("cross_entropy none",
             [labels](const In& i) { return F::cross_entropy(i[0], labels, Tensor(), -100, "none"); }, {x});
    Tensor probs = F::softmax(rnd({4, 3}, 93).detach(), 1);
    check_op("cross_entropy probabilities",
             [probs, cw](const In& i) { return F::cross_entropy(i[0], probs, cw, -100, "mean", 0.2); }, {x});
  }

  TEST_CASE("gradcheck reports the elements that disagree") {
    struct Wrong : ag::Function<Wrong> {
      static Tensor forward(ag::AutogradContext*, const Tensor& x) { return x * x; }
      static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list g) { return {g[0] * 3}; }
    };
    Tensor x = tensor(std::vector<double>{1.0, 2.0}, {2}, {.dtype = kFloat64}).requires_grad_();
    auto fn = [](const In& in) { return Wrong::apply(in[0]); };
    CHECK_THROWS_WITH_AS(ag::gradcheck(fn, {x}),
                         doctest::Contains("Jacobian mismatch for output 0 with respect to input 0"),
                         ag::GradcheckError);
    CHECK_THROWS_WITH_AS(ag::gradcheck(fn, {x}),
                         doctest::Contains("element 1 / d input[0] element 1: numerical 4, analytical 3"),
                         ag::GradcheckError);
    CHECK(!ag::gradcheck(fn, {x}, {.raise_exception = false}));
    CHECK_THROWS_WITH_AS(ag::gradcheck(fn, {x.detach()}),
                         doctest::Contains("gradcheck expects at least one input tensor to require gradient"),
                         ValueError);
    WarningCapture warnings;
    CHECK(ag::gradcheck([](const In& in) { return in[0] * 2; }, {ones({2}, {.requires_grad = true})},
                        {.eps = 1e-3, .atol = 1e-2}));
    CHECK(warnings.contains("is not a double precision floating point or complex"));
  }
}
