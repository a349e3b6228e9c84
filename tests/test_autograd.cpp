// The autograd tape: recording, backward, grad, guards, in-place and views,
// retain_grad, sparse gradients, custom functions, and every error path.
#include <doctest/doctest.h>

#include "descent/descent.h"

using namespace descent;
namespace ag = descent::autograd;

namespace {
Tensor vec(std::vector<double> v) { return tensor(v, {static_cast<int64_t>(v.size())}, {.dtype = kFloat64}); }
Tensor leaf(std::vector<double> v) { return vec(std::move(v)).requires_grad_(true); }
std::vector<double> values(const Tensor& t) { return t.detach().to_dense().to_vector<double>(); }
void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(t.defined());
  auto v = values(t);
  REQUIRE(v.size() == expected.size());
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(v[i] == doctest::Approx(expected[i]).epsilon(tol));
}
std::string fn_name(const Tensor& t) { return t.grad_fn() ? ag::node_name(*t.grad_fn()) : "None"; }
}  // namespace

TEST_SUITE("autograd") {
  TEST_CASE("leaves, requires_grad and grad_fn") {
    Tensor x = leaf({1, 2, 3});
    CHECK(x.requires_grad());
    CHECK(x.is_leaf());
    CHECK(!x.grad_fn());
    CHECK(!x.grad().defined());
    Tensor y = x * 2;
    CHECK(y.requires_grad());
    CHECK(!y.is_leaf());
    CHECK(fn_name(y) == "MulBackward0");
    CHECK(fn_name(x + y) == "AddBackward0");
    CHECK(fn_name(x.sum()) == "SumBackward0");
    CHECK(fn_name(x.exp()) == "ExpBackward0");
    CHECK(fn_name(x.view({3, 1})) == "ViewBackward0");
    CHECK(fn_name(x.norm()) == "LinalgVectorNormBackward0");
    CHECK(fn_name(x.clamp(Scalar(0), std::nullopt)) == "ClampBackward1");
    CHECK(fn_name(Scalar(2) / x) == "MulBackward0");
    CHECK(fn_name(Scalar(2) - x) == "RsubBackward1");
    CHECK(fn_name(x.square()) == "PowBackward0");
    CHECK(x.sum().repr() == "tensor(6., dtype=torch.float64, grad_fn=<SumBackward0>)");
    CHECK(x.repr() == "tensor([1., 2., 3.], dtype=torch.float64, requires_grad=True)");
    // Results of ops on tensors that do not require grad do not either.
    Tensor c = vec({1, 2});
    CHECK(!(c * 2).requires_grad());
    CHECK(!(c * 2).grad_fn());
    // Integer and bool results of comparisons never require grad.
    CHECK(!x.gt(Scalar(1)).requires_grad());
  }

  TEST_CASE("requires_grad_ errors") {
    Tensor i = tensor<int64_t>({1, 2});
    CHECK_THROWS_WITH_AS(i.requires_grad_(),
                         doctest::Contains("only Tensors of floating point and complex dtype"), RuntimeError);
    Tensor y = leaf({1}) * 2;
    CHECK_THROWS_WITH_AS(y.requires_grad_(false),
                         doctest::Contains("you can only change requires_grad flags of leaf"), RuntimeError);
    CHECK_THROWS_WITH_AS(zeros({2}, {.dtype = kInt64, .requires_grad = true}),
                         doctest::Contains("only Tensors of floating point and complex dtype"), RuntimeError);
  }

  TEST_CASE("backward accumulates into leaves") {
    Tensor x = leaf({1, 2, 3});
    (x * x).sum().backward();
    check_values(x.grad(), {2, 4, 6});
    (x * x).sum().backward();
    check_values(x.grad(), {4, 8, 12});
    // A graph without saved tensors can be replayed without retain_graph, as in PyTorch.
    Tensor s = (x + 1).sum();
    s.backward();
    s.backward();
    check_values(x.grad(), {6, 10, 14});
    // The diamond: both paths are summed.
    Tensor z = leaf({1, 1});
    Tensor y = z * 2;
    (y * 3 + y * 4).sum().backward();
    check_values(z.grad(), {14, 14});
  }

  TEST_CASE("backward twice without retain_graph fails; with it accumulates") {
    Tensor x = leaf({1, 2});
    Tensor y = (x * x).sum();
    y.backward(Tensor(), true);
    y.backward();
    check_values(x.grad(), {4, 8});
    CHECK_THROWS_WITH_AS(
        y.backward(), doctest::Contains("Trying to backward through the graph a second time"), RuntimeError);
  }

  TEST_CASE("non-scalar backward needs a gradient of the output's shape") {
    Tensor x = leaf({1, 2, 3});
    Tensor y = x * 2;
    CHECK_THROWS_WITH_AS(y.backward(),
                         doctest::Contains("grad can be implicitly created only for scalar outputs"),
                         RuntimeError);
    CHECK_THROWS_WITH_AS(
        y.backward(vec({1, 1})),
        doctest::Contains(
            "Mismatch in shape: grad_output[0] has a shape of [2] and output[0] has a shape of [3]."),
        ShapeError);
    y.backward(vec({1, 10, 100}));
    check_values(x.grad(), {2, 20, 200});
    Tensor z = tensor(std::vector<std::complex<double>>{{1, 1}}, {1}).requires_grad_();
    CHECK_THROWS_WITH_AS((z * 2).sum().backward(),
                         doctest::Contains("grad can be implicitly created only for real scalar outputs"),
                         RuntimeError);
    CHECK_THROWS_WITH_AS(
        (x * 2).backward(tensor(std::vector<std::complex<double>>{{1, 0}, {1, 0}, {1, 0}}, {3})),
        doctest::Contains(
            "For complex Tensors, both grad_output and output are required to have the same dtype"),
        TypeError);
  }

  TEST_CASE("backward of a tensor that does not require grad") {
    CHECK_THROWS_WITH_AS(
        vec({1, 2}).sum().backward(),
        doctest::Contains("element 0 of tensors does not require grad and does not have a grad_fn"),
        RuntimeError);
  }

  TEST_CASE("autograd::grad") {
    Tensor x = leaf({1, 2, 3});
    Tensor y = (x * x * x).sum();
    auto g = ag::grad({y}, {x}, {}, true, true);
    check_values(g[0], {3, 12, 27});
    CHECK(!x.grad().defined());   // grad() never touches .grad
    CHECK(g[0].requires_grad());  // create_graph: the gradient has a graph
    auto gg = ag::grad({g[0].sum()}, {x});
    check_values(gg[0], {6, 12, 18});

    Tensor w = leaf({5});
    Tensor loss = (x * 2).sum();
    CHECK_THROWS_WITH_AS(ag::grad({loss}, {vec({1})}, {}, true),
                         doctest::Contains("One of the differentiated Tensors does not require grad"),
                         RuntimeError);
    CHECK_THROWS_WITH_AS(
        ag::grad({loss}, {w}, {}, true),
        doctest::Contains("The differentiated Tensor at index 0 appears to not have been used in the graph"),
        RuntimeError);
    auto unused = ag::grad({loss}, {w, x}, {}, true, false, true);
    CHECK(!unused[0].defined());
    check_values(unused[1], {2, 2, 2});
    auto materialized = ag::grad({loss}, {w}, {}, true, false, false, true);
    check_values(materialized[0], {0});

    // With respect to an intermediate tensor.
    Tensor a = x * 2;
    Tensor b = (a * a).sum();
    check_values(ag::grad({b}, {a})[0], {4, 8, 12});

    // Several outputs with explicit gradients.
    Tensor p = x * 2, q = x * x;
    auto pq = ag::grad({p, q}, {x}, {vec({1, 1, 1}), vec({1, 0, 1})});
    check_values(pq[0], {4, 2, 8});
    CHECK_THROWS_WITH_AS(ag::grad({x * 2}, {x}, {vec({1, 1})}), doctest::Contains("Mismatch in shape"),
                         ShapeError);
  }

  TEST_CASE("backward with inputs accumulates only into those") {
    Tensor x = leaf({1, 2}), w = leaf({3, 4});
    ag::backward({(x * w).sum()}, {}, std::nullopt, false, {x});
    check_values(x.grad(), {3, 4});
    CHECK(!w.grad().defined());
  }

  TEST_CASE("grad mode guards") {
    Tensor x = leaf({1, 2});
    CHECK(ag::is_grad_enabled());
    {
      ag::NoGradGuard no_grad;
      CHECK(!ag::is_grad_enabled());
      Tensor y = x * 2;
      CHECK(!y.requires_grad());
      {
        ag::EnableGradGuard enable;
        CHECK((x * 2).requires_grad());
      }
      CHECK(!ag::is_grad_enabled());
      x.add_(1);  // in-place on a leaf is allowed without recording
    }
    CHECK(ag::is_grad_enabled());
    check_values(x, {2, 3});
    {
      ag::GradModeGuard off(false);
      CHECK(!(x * 2).requires_grad());
    }
  }

  TEST_CASE("detach and detach_") {
    Tensor x = leaf({1, 2});
    Tensor y = x * 2;
    Tensor d = y.detach();
    CHECK(!d.requires_grad());
    CHECK(d.storage() == y.storage());
    y.detach_();
    CHECK(!y.requires_grad());
    CHECK(y.is_leaf());
  }

  TEST_CASE("in-place ops under autograd") {
    Tensor x = leaf({1, 2, 3});
    CHECK_THROWS_WITH_AS(
        x.add_(1),
        doctest::Contains("a leaf Variable that requires grad is being used in an in-place operation."),
        RuntimeError);
    Tensor y = x.clone();
    int64_t v0 = y._version();
    y.mul_(2);
    CHECK(y._version() == v0 + 1);
    CHECK(fn_name(y) == "MulBackward0");
    y.add_(x).exp_();
    y.sum().backward();
    std::vector<double> expected;
    for (double v : {1.0, 2.0, 3.0}) expected.push_back(3 * std::exp(3 * v));
    check_values(x.grad(), expected, 1e-12);

    // In-place on a tensor that does not require grad, with one that does.
    Tensor acc = zeros({3}, {.dtype = kFloat64});
    acc.addcmul_(x, x, 0.5);
    CHECK(acc.requires_grad());
    x.mutable_grad() = Tensor();
    acc.sum().backward();
    check_values(x.grad(), {1, 2, 3});

    // copy_, fill_ and zero_ record too.
    Tensor c = zeros({3}, {.dtype = kFloat64});
    c.copy_(x * 3);
    CHECK(fn_name(c) == "CopyBackwards");
    x.mutable_grad() = Tensor();
    c.sum().backward();
    check_values(x.grad(), {3, 3, 3});
    Tensor f = x.clone();
    f.fill_(2);
    CHECK(fn_name(f) == "FillBackward2");
    CHECK(f.requires_grad());
    Tensor zr = x.clone();
    zr.zero_();
    CHECK(fn_name(zr) == "ZeroBackward0");
  }

  TEST_CASE("modified saved tensors are detected") {
    Tensor x = leaf({1, 2, 3});
    Tensor y = x.exp();
    y.add_(1);
    CHECK_THROWS_WITH_AS(
        y.sum().backward(),
        doctest::Contains("one of the variables needed for gradient computation has been modified by an "
                          "inplace operation: [torch.DoubleTensor [3]], which is output 0 of Exp, is at "
                          "version 1; expected version 0 instead."),
        RuntimeError);
    Tensor a = x * 1;
    Tensor b = a * a;
    a.add_(1);
    CHECK_THROWS_WITH_AS(b.sum().backward(), doctest::Contains("which is output 0 of Add, is at version 1"),
                         RuntimeError);
    // A leaf written under no_grad after being saved.
    Tensor w = leaf({1, 2});
    Tensor l = (w * w).sum();
    {
      ag::NoGradGuard no_grad;
      w.mul_(2);
    }
    CHECK_THROWS_WITH_AS(l.backward(),
                         doctest::Contains("[torch.DoubleTensor [2]] is at version 1; expected version 0"),
                         RuntimeError);
  }

  // y*y saves y; y.add_(z) then gives y a grad_fn whose edges reach y*y's
  // node. If that node held y with its autograd state, the two would keep
  // each other (and the whole graph) alive after every handle is gone.
  TEST_CASE("a saved tensor written in place later does not keep the graph alive") {
    std::weak_ptr<ag::Node> saving, rewritten;
    {
      Tensor x = leaf({1, 2, 3});
      Tensor y = x * 2;
      Tensor z = y * y;
      saving = z.grad_fn();
      y.add_(z);
      rewritten = y.grad_fn();
      CHECK(!saving.expired());
      CHECK_THROWS_WITH_AS(y.sum().backward(), doctest::Contains("which is output 0 of Add, is at version 1"),
                           RuntimeError);
    }
    CHECK(saving.expired());
    CHECK(rewritten.expired());
    // Unmodified, a saved non-leaf still carries its history into backward.
    Tensor x = leaf({1, 2, 3});
    Tensor y = x * 2;
    (y * y).sum().backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>{8, 16, 24});
  }

  TEST_CASE("in-place writes through views (CopySlices)") {
    Tensor x = tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, {.dtype = kFloat64}).requires_grad_();
    Tensor base = x.clone();
    Tensor row = base.select(0, 0);
    row.mul_(2);
    CHECK(fn_name(base) == "CopySlices");
    CHECK(fn_name(row) == "AsStridedBackward0");
    base.sum().backward();
    check_values(x.grad(), {2, 2, 2, 1, 1, 1});
    check_values(base, {2, 4, 6, 4, 5, 6});

    // The base written after the view was taken: the view follows.
    x.mutable_grad() = Tensor();
    Tensor b2 = x.clone();
    Tensor top = b2.narrow(0, 0, 1);
    b2.mul_(3);
    CHECK(fn_name(top) == "AsStridedBackward0");
    top.sum().backward();
    check_values(x.grad(), {3, 3, 3, 0, 0, 0});

    // A value that requires grad written into a buffer that does not.
    x.mutable_grad() = Tensor();
    Tensor buffer = zeros({2, 3}, {.dtype = kFloat64});
    buffer.select(0, 1).copy_(x.select(0, 0) * 5);
    CHECK(buffer.requires_grad());
    buffer.sum().backward();
    check_values(x.grad(), {5, 5, 5, 0, 0, 0});

    // Complex storage written through view_as_real.
    Tensor z = tensor(std::vector<std::complex<double>>{{1, 2}, {3, 4}}, {2}).requires_grad_();
    Tensor zc = z.clone();
    view_as_real(zc).mul_(2);
    view_as_real(zc).sum().backward();
    auto zg = z.grad().to_vector<std::complex<double>>();
    CHECK(zg[0] == std::complex<double>(2, 2));
    CHECK(zg[1] == std::complex<double>(2, 2));

    CHECK_THROWS_WITH_AS(
        x.view({6}).add_(1),
        doctest::Contains(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."),
        RuntimeError);
    Tensor c = x.clone();
    Tensor v;
    {
      ag::NoGradGuard no_grad;
      v = c.narrow(0, 0, 1);
    }
    CHECK_THROWS_WITH_AS(
        v.mul_(leaf({2})),
        doctest::Contains("A view was created in no_grad mode and is being modified inplace"), RuntimeError);
  }

  TEST_CASE("retain_grad keeps a non-leaf's gradient") {
    Tensor x = leaf({1, 2});
    Tensor y = x * 3;
    y.retain_grad();
    CHECK(y.retains_grad());
    Tensor z = x * 2;
    (y * y + z).sum().backward();
    check_values(y.grad(), {6, 12});
    CHECK(!z.grad().defined());
    // After an in-place op the retained gradient is the one of the new value.
    Tensor r = x * 1;
    r.retain_grad();
    r.mul_(2);
    (r * r).sum().backward();
    check_values(r.grad(), {4, 8});
    CHECK_THROWS_WITH_AS(vec({1}).retain_grad(),
                         doctest::Contains("can't retain_grad on Tensor that has requires_grad=False"),
                         RuntimeError);
  }

  TEST_CASE("broadcasting and dtype promotion give gradients of the inputs' shape and dtype") {
    Tensor a = ones({3, 1}, {.dtype = kFloat64, .requires_grad = true});
    Tensor b = ones({1, 4}, {.dtype = kFloat32, .requires_grad = true});
    Tensor s = (a * b).sum();
    CHECK(s.dtype() == kFloat64);
    s.backward();
    CHECK(a.grad().sizes() == Shape{3, 1});
    CHECK(b.grad().sizes() == Shape{1, 4});
    CHECK(a.grad().dtype() == kFloat64);
    CHECK(b.grad().dtype() == kFloat32);
    check_values(a.grad(), {4, 4, 4});
    check_values(b.grad(), {3, 3, 3, 3});
  }

  TEST_CASE("create_graph: gradients of gradients") {
    Tensor x = leaf({1, 2});
    (x * x * x).sum().backward(Tensor(), std::nullopt, true);
    check_values(x.grad(), {3, 12});
    CHECK(fn_name(x.grad()) == "CopyBackwards");
    Tensor g = x.grad();
    x.mutable_grad() = Tensor();
    g.sum().backward();
    check_values(x.grad(), {6, 12});
  }

  TEST_CASE("set_data swaps the data and keeps the identity") {
    Tensor p = leaf({1, 2});
    (p * 2).sum().backward();
    ag::set_data(p, vec({7, 8, 9}).to(kFloat32));
    CHECK(p.requires_grad());
    CHECK(p.sizes() == Shape{3});
    CHECK(p.dtype() == kFloat32);
    p.mutable_grad() = Tensor();
    (p * p).sum().backward();
    check_values(p.grad(), {14, 16, 18}, 1e-6);
  }

  TEST_CASE("sparse gradients accumulate uncoalesced") {
    nn::Embedding emb(5, 2, {.sparse = true});
    emb(tensor<int64_t>({0, 1, 1})).sum().backward();
    CHECK(emb.weight.grad().is_sparse());
    CHECK(emb.weight.grad()._nnz() == 3);
    emb(tensor<int64_t>({3})).sum().backward();
    const Tensor& g = emb.weight.grad();
    CHECK(g._nnz() == 4);
    CHECK(!g.is_coalesced());
    CHECK(g._indices().to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1, 3});
    check_values(g.to_dense(), {1, 1, 2, 2, 0, 0, 1, 1, 0, 0});
  }

  TEST_CASE("views record their backward") {
    Tensor x = tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, {.dtype = kFloat64}).requires_grad_();
    Tensor parts =
        cat({x.select(1, 2).unsqueeze(0), x.narrow(1, 0, 2).t().reshape({1, 4}).squeeze(0).unsqueeze(0)}, 1);
    (parts * tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {1, 6}, {.dtype = kFloat64})).sum().backward();
    // parts = [x02, x12, x00, x10, x01, x11] weighted 1..6.
    check_values(x.grad(), {3, 5, 1, 4, 6, 2});
  }
}

namespace {
struct Cube : ag::Function<Cube> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    Tensor x = ctx->get_saved_variables()[0];
    return {grads[0] * 3 * x * x};
  }
};

struct ScaleBy : ag::Function<ScaleBy> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x, double factor) {
    ctx->saved_data["factor"] = factor;
    return x * factor;
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    return {grads[0] * std::any_cast<double>(ctx->saved_data["factor"])};
  }
};

struct TooManyGrads : ag::Function<TooManyGrads> {
  static Tensor forward(ag::AutogradContext*, const Tensor& x) { return x * 2; }
  static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list grads) {
    return {grads[0], grads[0]};
  }
};

// Two outputs: the values and (non-differentiable) their argsort-like ranks.
struct SplitHalves : ag::Function<SplitHalves> {
  static ag::tensor_list forward(ag::AutogradContext* ctx, const Tensor& x, const Tensor& scale) {
    ctx->saved_data["needs_scale"] = ctx->needs_input_grad(1);
    ctx->save_for_backward({scale});
    Tensor ranks = arange(2);
    ctx->mark_non_differentiable({ranks});
    return {x.narrow(0, 0, 1) * scale, x.narrow(0, 1, 1) * scale, ranks};
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    Tensor scale = ctx->get_saved_variables()[0];
    CHECK(!std::any_cast<bool>(ctx->saved_data["needs_scale"]));
    // An output that took no part in the loss gets a zero gradient, not an undefined one.
    return {cat({grads[0], grads[1]}) * scale, Tensor()};
  }
};

struct WrongShape : ag::Function<WrongShape> {
  static Tensor forward(ag::AutogradContext*, const Tensor& x) { return x * 2; }
  static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list) {
    return {ones({2}, {.dtype = kFloat64})};
  }
};
}  // namespace

TEST_SUITE("autograd custom functions") {
  TEST_CASE("forward, backward and double backward") {
    Tensor x = leaf({1, 2});
    Tensor y = Cube::apply(x);
    CHECK(fn_name(y) == "CubeBackward");
    check_values(y, {1, 8});
    auto g = ag::grad({y.sum()}, {x}, {}, std::nullopt, true);
    check_values(g[0], {3, 12});
    check_values(ag::grad({g[0].sum()}, {x})[0], {6, 12});
    CHECK(
        ag::gradcheck([](const std::vector<Tensor>& in) { return Cube::apply(in[0]); }, {leaf({0.5, -1.5})}));
    Tensor s = ScaleBy::apply(x, 2.5);
    s.sum().backward();
    check_values(x.grad(), {2.5, 2.5});
    CHECK(!Cube::apply(vec({1})).requires_grad());
  }

  TEST_CASE("several outputs, non-differentiable outputs, needs_input_grad") {
    Tensor x = leaf({1, 2});
    Tensor scale = vec({3});
    auto outs = SplitHalves::apply(x, scale);
    REQUIRE(outs.size() == 3);
    CHECK(outs[0].requires_grad());
    CHECK(!outs[2].requires_grad());
    outs[0].sum().backward();
    check_values(x.grad(), {3, 0});
  }

  TEST_CASE("errors of custom backward") {
    Tensor x = leaf({1, 2, 3});
    CHECK_THROWS_WITH_AS(
        TooManyGrads::apply(x).sum().backward(),
        doctest::Contains(
            "function TooManyGradsBackward returned an incorrect number of gradients (expected 1, got 2)"),
        RuntimeError);
    CHECK_THROWS_WITH_AS(
        WrongShape::apply(x).sum().backward(),
        doctest::Contains("Function WrongShapeBackward returned an invalid gradient at index 0 - got [2] but "
                          "expected shape compatible with [3]"),
        ShapeError);
  }
}
