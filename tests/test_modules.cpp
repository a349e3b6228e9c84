// Modules, losses, init and nn::utils against PyTorch fixtures
// (scripts/fixtures/autograd_modules.py), plus the module API itself.
#include <doctest/doctest.h>

#include <cmath>

#include "fixtures.h"

using namespace descent;
using descent::testing::FixtureCase;
using descent::testing::load_fixture;
namespace ag = descent::autograd;
namespace F = descent::nn::functional;

namespace {
const FixtureCase& find_case(const std::vector<FixtureCase>& cases, const std::string& name) {
  for (const auto& c : cases)
    if (c.name == name) return c;
  raise<KeyError>("no fixture case ", name);
}

std::string config(const FixtureCase& c, const std::string& key) {
  for (const auto& [k, v] : c.config)
    if (k == key) return v;
  return "";
}

void check_close(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                 const std::string& what) {
  CAPTURE(what);
  REQUIRE(actual.defined());
  std::string diff = descent::testing::compare_tensors(actual.detach().to_dense(), expected, rtol, atol);
  CHECK_MESSAGE(diff.empty(), diff);
}

// Tolerances: float64 to ~1e-12, float32 to ~1e-6 (descent's kernels sum in
// a different order than PyTorch's).
double rtol_for(Dtype d) { return d == kFloat64 ? 1e-11 : 2e-5; }
double atol_for(Dtype d) { return d == kFloat64 ? 1e-13 : 1e-6; }

nn::NamedTensors params_of(const FixtureCase& c, const std::string& prefix) {
  nn::NamedTensors out;
  for (const auto& [key, t] : c.tensors)
    if (key.rfind(prefix, 0) == 0) out.emplace_back(key.substr(prefix.size()), t);
  return out;
}
}  // namespace

namespace {
// The custom module of docs/autograd.md.
struct TwoLayer : nn::Cloneable<TwoLayer> {
  TwoLayer() { reset(); }
  void reset() override {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 8));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(8, 1));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*fc1)(x).relu()); }
  std::string name() const override { return "TwoLayer"; }
  std::shared_ptr<nn::Linear> fc1, fc2;
};
}  // namespace

TEST_SUITE("modules") {
  TEST_CASE("MLP forward and backward match PyTorch") {
    auto cases = load_fixture("autograd/modules.txt");
    for (std::string dtype_name : {"float64", "float32"}) {
      const FixtureCase& c = find_case(cases, "mlp_" + dtype_name);
      Dtype dt = dtype_name == "float64" ? kFloat64 : kFloat32;
      nn::Sequential model(nn::Linear(4, 5), nn::ReLU(), nn::Linear(5, 3), nn::Tanh(), nn::Linear(3, 2),
                           nn::Sigmoid());
      model.to(dt);
      model.load_state_dict(params_of(c, "param."));
      Tensor x = c.tensor("x").clone().requires_grad_();
      Tensor out = model(x);
      Tensor loss = nn::MSELoss()(out, c.tensor("target"));
      loss.backward();
      check_close(out, c.tensor("out"), rtol_for(dt), atol_for(dt), "out " + dtype_name);
      check_close(loss, c.tensor("loss"), rtol_for(dt), atol_for(dt), "loss");
      for (const auto& [name, p] : model.named_parameters())
        check_close(p.grad(), c.tensor("grad." + name), rtol_for(dt), atol_for(dt), "grad " + name);
      check_close(x.grad(), c.tensor("x_grad"), rtol_for(dt), atol_for(dt), "x grad");
    }
  }

  TEST_CASE("gradient penalty (double backward) matches PyTorch") {
    auto cases = load_fixture("autograd/modules.txt");
    const FixtureCase& c = find_case(cases, "gradient_penalty");
    nn::Linear l1(3, 4, {.dtype = kFloat64}), l2(4, 4, {.dtype = kFloat64}), l3(4, 3, {.dtype = kFloat64});
    std::vector<std::pair<std::string, nn::Linear*>> layers{{"l1", &l1}, {"l2", &l2}, {"l3", &l3}};
    std::vector<Tensor> params;
    for (auto& [name, layer] : layers) {
      layer->load_state_dict(
          {{"weight", c.tensor("param." + name + ".weight")}, {"bias", c.tensor("param." + name + ".bias")}});
      params.push_back(layer->weight);
      params.push_back(layer->bias);
    }
    Tensor h = l1(c.tensor("x")).tanh();
    Tensor z = l2(h);
    h = add(softplus(z, 2.0), mul(relu(z), sigmoid(z)));
    Tensor loss = F::cross_entropy(l3(h), c.tensor("y"));
    check_close(loss, c.tensor("loss"), 1e-12, 1e-14, "loss");
    auto grads = ag::grad({loss}, params, {}, std::nullopt, true);
    Tensor penalty = zeros({}, {.dtype = kFloat64});
    for (const Tensor& g : grads) penalty = add(penalty, mul(g, g).sum());
    check_close(penalty, c.tensor("penalty"), 1e-11, 1e-14, "penalty");
    penalty.backward();
    std::size_t i = 0;
    for (auto& [name, layer] : layers) {
      check_close(grads[i++], c.tensor("first." + name + ".weight"), 1e-11, 1e-14, "first " + name);
      check_close(grads[i++], c.tensor("first." + name + ".bias"), 1e-11, 1e-14, "first " + name);
      check_close(layer->weight.grad(), c.tensor("grad." + name + ".weight"), 1e-10, 1e-13, "second " + name);
      check_close(layer->bias.grad(), c.tensor("grad." + name + ".bias"), 1e-10, 1e-13, "second " + name);
    }
  }

  TEST_CASE("cross_entropy, nll_loss, mse_loss, log_softmax and softmax match PyTorch") {
    for (const FixtureCase& c : load_fixture("autograd/losses.txt")) {
      CAPTURE(c.name);
      Tensor x = c.tensor("input").clone().requires_grad_();
      Tensor out;
      if (c.name.rfind("ce_rank", 0) == 0) {
        out = F::cross_entropy(x, c.tensor("target"));
        out.backward();
      } else if (c.name.rfind("ce_", 0) == 0) {
        Tensor w = config(c, "weighted") == "True" ? c.tensor("weight") : Tensor();
        double smoothing = std::stod(config(c, "label_smoothing"));
        int64_t ignore = std::stoll(config(c, "ignore_index"));
        nn::CrossEntropyLoss loss({.weight = w,
                                   .ignore_index = ignore,
                                   .reduction = config(c, "reduction"),
                                   .label_smoothing = smoothing});
        out = loss(x, c.tensor("target"));
        (out * c.tensor("upstream")).sum().backward();
      } else if (c.name.rfind("mse_", 0) == 0) {
        out = nn::MSELoss(config(c, "reduction"))(x, c.tensor("target"));
        (out * c.tensor("upstream")).sum().backward();
      } else {
        int64_t dim = std::stoll(config(c, "dim"));
        out = c.name.rfind("log_softmax", 0) == 0 ? F::log_softmax(x, dim) : F::softmax(x, dim);
        out.backward(c.tensor("upstream"));
      }
      check_close(out, c.tensor(c.has("loss") ? "loss" : "out"), 1e-12, 1e-14, "value");
      check_close(x.grad(), c.tensor("grad"), 1e-11, 1e-14, "grad");
    }
  }

  TEST_CASE("BatchNorm1d training steps, running statistics and eval match PyTorch") {
    for (const FixtureCase& c : load_fixture("autograd/batchnorm.txt")) {
      CAPTURE(c.name);
      Dtype dt = config(c, "dtype") == "float64" ? kFloat64 : kFloat32;
      std::optional<double> momentum;
      if (config(c, "momentum") != "None") momentum = std::stod(config(c, "momentum"));
      nn::BatchNorm1d bn(3, {.momentum = momentum, .dtype = dt});
      {
        ag::NoGradGuard no_grad;
        bn.weight.copy_(c.tensor("weight"));
        bn.bias.copy_(c.tensor("bias"));
      }
      double rtol = dt == kFloat64 ? 1e-10 : 1e-5, atol = dt == kFloat64 ? 1e-12 : 2e-6;
      for (int step = 0; step < 3; ++step) {
        std::string s = std::to_string(step);
        Tensor x = c.tensor("x" + s).clone().requires_grad_();
        Tensor out = bn(x);
        check_close(out, c.tensor("out" + s), rtol, atol, "out" + s);
        if (step == 0) {
          (out * c.tensor("upstream")).sum().backward();
          check_close(bn.weight.grad(), c.tensor("weight_grad"), rtol, atol, "weight grad");
          check_close(bn.bias.grad(), c.tensor("bias_grad"), rtol, atol, "bias grad");
          check_close(x.grad(), c.tensor("x0_grad"), rtol, atol, "input grad");
        }
        check_close(bn.running_mean, c.tensor("running_mean" + s), rtol, atol, "running_mean" + s);
        check_close(bn.running_var, c.tensor("running_var" + s), rtol, atol, "running_var" + s);
        CHECK(bn.num_batches_tracked.item<int64_t>() == c.tensor("num_batches_tracked" + s).item<int64_t>());
      }
      bn.eval();
      CHECK(!bn.is_training());
      check_close(bn(c.tensor("x_eval")), c.tensor("out_eval"), rtol, atol, "eval");
    }
  }

  TEST_CASE("BatchNorm1d API: momentum None, reset_running_stats, errors") {
    nn::BatchNorm1d bn(2);
    CHECK(bn.momentum == 0.1);
    bn.momentum = std::nullopt;
    Tensor a = tensor(std::vector<double>{1, 2, 3, 6}, {2, 2}).to(kFloat32);
    Tensor b = tensor(std::vector<double>{5, 0, 7, 2}, {2, 2}).to(kFloat32);
    bn(a);
    bn(b);
    // Cumulative average: the mean of the two batch means and unbiased variances.
    CHECK(bn.running_mean.to_vector<float>() == std::vector<float>{4.0f, 2.5f});
    CHECK(bn.running_var.to_vector<float>() == std::vector<float>{(2.0f + 2.0f) / 2, (8.0f + 2.0f) / 2});
    CHECK(bn.num_batches_tracked.item<int64_t>() == 2);
    bn.reset_running_stats();
    CHECK(bn.running_mean.to_vector<float>() == std::vector<float>{0, 0});
    CHECK(bn.running_var.to_vector<float>() == std::vector<float>{1, 1});
    CHECK(bn.num_batches_tracked.item<int64_t>() == 0);
    CHECK_THROWS_WITH_AS(bn(zeros({2})), doctest::Contains("expected 2D or 3D input (got 1D input)"),
                         ValueError);
    CHECK_THROWS_WITH_AS(
        bn(zeros({1, 2})),
        doctest::Contains("Expected more than 1 value per channel when training, got input size [1, 2]"),
        ValueError);
    CHECK_THROWS_WITH_AS(bn(zeros({4, 3})), doctest::Contains("running_mean should contain 3 elements not 2"),
                         ShapeError);
    nn::BatchNorm1d plain(3, {.affine = false, .track_running_stats = false});
    CHECK(plain.parameters().empty());
    CHECK(plain.buffers().empty());
    CHECK(plain(randn({4, 3})).sizes() == Shape{4, 3});
  }

  TEST_CASE("Embedding lookups and dense and sparse gradients match PyTorch") {
    for (const FixtureCase& c : load_fixture("autograd/embedding.txt")) {
      CAPTURE(c.name);
      std::optional<int64_t> padding;
      if (config(c, "padding_idx") != "None") padding = std::stoll(config(c, "padding_idx"));
      for (bool sparse : {false, true}) {
        nn::Embedding emb(10, 3, {.padding_idx = padding, .sparse = sparse, .dtype = kFloat64});
        emb.load_state_dict({{"weight", c.tensor("weight")}});
        Tensor out = emb(c.tensor("indices"));
        check_close(out, c.tensor("out"), 0, 0, "out");
        (out * c.tensor("upstream")).sum().backward();
        const Tensor& g = emb.weight.grad();
        CHECK(g.is_sparse() == sparse);
        if (sparse) {
          CHECK(g._indices().to_vector<int64_t>() == c.tensor("sparse_indices").to_vector<int64_t>());
          check_close(g._values(), c.tensor("sparse_values"), 0, 0, "sparse values");
        }
        check_close(g, c.tensor("dense_grad"), 0, 0, "dense grad");
      }
    }
    nn::Embedding emb(4, 2, {.padding_idx = -1});
    CHECK(emb.padding_idx == 3);
    CHECK(emb.weight.select(0, 3).abs().sum().item<double>() == 0.0);
    CHECK_THROWS_WITH_AS(nn::Embedding(4, 2, {.padding_idx = 4}),
                         doctest::Contains("padding_idx must be within num_embeddings"), ValueError);
    CHECK_THROWS_WITH_AS(emb(tensor<int64_t>({4})), doctest::Contains("index out of range in self"),
                         IndexError);
    CHECK_THROWS_WITH_AS(emb(zeros({2})), doctest::Contains("expected indices of dtype torch.int64"),
                         TypeError);
  }

  TEST_CASE("loss errors") {
    Tensor x = randn({3, 4});
    CHECK_THROWS_WITH_AS(F::cross_entropy(x, tensor<int64_t>({0, 1})),
                         doctest::Contains("Expected input batch_size (3) to match target batch_size (2)."),
                         ValueError);
    CHECK_THROWS_WITH_AS(F::cross_entropy(x, tensor<int64_t>({0, 1, 4})),
                         doctest::Contains("Target 4 is out of bounds."), IndexError);
    CHECK_THROWS_WITH_AS(nn::MSELoss("average"),
                         doctest::Contains("average is not a valid value for reduction"), ValueError);
    CHECK_THROWS_WITH_AS(nn::CrossEntropyLoss({.label_smoothing = 1.5}),
                         doctest::Contains("label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
                         ValueError);
    CHECK_THROWS_WITH_AS(F::cross_entropy(x, tensor<int64_t>({0, 1, 2}), ones({3})),
                         doctest::Contains("weight tensor should be defined either for all 4 classes"),
                         ShapeError);
    WarningCapture warnings;
    F::mse_loss(randn({3, 1}), randn({3}));
    CHECK(warnings.contains("Using a target size ([3]) that is different to the input size ([3, 1])"));
  }

  TEST_CASE("clip_grad_norm_ and clip_grad_value_ match PyTorch") {
    for (const FixtureCase& c : load_fixture("autograd/utils.txt")) {
      if (c.name == "complex") continue;
      CAPTURE(c.name);
      std::vector<Tensor> params;
      for (int i = 0; c.has("grad" + std::to_string(i)); ++i) {
        Tensor g = c.tensor("grad" + std::to_string(i));
        Tensor p = zeros_like(g).requires_grad_();
        p.set_grad(g.clone());
        params.push_back(p);
      }
      if (c.name == "clip_value") {
        nn::utils::clip_grad_value_(params, 0.5);
      } else {
        double norm_type = config(c, "norm_type") == "inf" ? INFINITY : std::stod(config(c, "norm_type"));
        Tensor total = nn::utils::clip_grad_norm_(params, std::stod(config(c, "max_norm")), norm_type);
        check_close(total, c.tensor("total"), 1e-6, 1e-6, "total norm");
      }
      for (std::size_t i = 0; i < params.size(); ++i)
        check_close(params[i].grad(), c.tensor("clipped" + std::to_string(i)), 1e-6, 1e-7, "clipped grad");
    }
  }

  TEST_CASE("clip_grad_norm_ options and errors") {
    Tensor p = zeros({2}, {.requires_grad = true});
    p.set_grad(tensor<float>({3, 4}));
    Tensor unused = zeros({2}, {.requires_grad = true});
    Tensor total = nn::utils::clip_grad_norm_({p, unused}, 1.0, 2.0, false, true);
    CHECK(total.item<double>() == doctest::Approx(5.0));
    CHECK(p.grad().to_vector<float>()[0] == doctest::Approx(0.6).epsilon(1e-6));
    CHECK(nn::utils::clip_grad_norm_({unused}, 1.0).item<double>() == 0.0);
    p.set_grad(tensor<float>({INFINITY, 1}));
    CHECK_THROWS_WITH_AS(
        nn::utils::clip_grad_norm_({p}, 1.0, 2.0, true),
        doctest::Contains("The total norm of order 2.0 for gradients from `parameters` is non-finite"),
        RuntimeError);
  }

  TEST_CASE("complex gradients match PyTorch") {
    auto cases = load_fixture("autograd/utils.txt");
    const FixtureCase& c = find_case(cases, "complex");
    Tensor z = c.tensor("z").clone().requires_grad_(), v = c.tensor("v").clone().requires_grad_();
    Tensor out = add(mul(z, v.conj()), mul(z.exp(), v));
    out = sub(out, div(mul(z, z).sqrt(), add(v, Scalar(3))));
    Tensor loss =
        add(add(out.abs().sum(), mul(z, v).real().sum()), view_as_real(mul(z, v)).pow(Scalar(2)).sum());
    loss = add(loss, angle(z).sum());
    loss.backward();
    check_close(loss, c.tensor("loss"), 1e-12, 1e-13, "loss");
    check_close(z.grad(), c.tensor("z_grad"), 1e-11, 1e-13, "z grad");
    check_close(v.grad(), c.tensor("v_grad"), 1e-11, 1e-13, "v grad");
  }

  TEST_CASE("module tree, names, state_dict and repr") {
    nn::Sequential model(nn::Linear(2, 3), nn::ReLU(), nn::Sequential(nn::Sigmoid(), nn::Tanh()),
                         nn::Embedding(10, 3, {.padding_idx = 1, .sparse = true}), nn::BatchNorm1d(3),
                         nn::BatchNorm1d(4, {.eps = 1e-3, .momentum = std::nullopt}),
                         nn::Linear(2, 3, {.bias = false}));
    CHECK(
        model.repr() ==
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Sigmoid()\n"
        "    (1): Tanh()\n"
        "  )\n"
        "  (3): Embedding(10, 3, padding_idx=1, sparse=True)\n"
        "  (4): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  (5): BatchNorm1d(4, eps=0.001, momentum=None, affine=True, bias=True, track_running_stats=True)\n"
        "  (6): Linear(in_features=2, out_features=3, bias=False)\n"
        ")");
    CHECK(nn::MSELoss().repr() == "MSELoss()");
    std::vector<std::string> keys;
    for (auto& [k, t] : model.state_dict()) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"0.weight", "0.bias", "3.weight", "4.weight", "4.bias",
                                           "4.running_mean", "4.running_var", "4.num_batches_tracked",
                                           "5.weight", "5.bias", "5.running_mean", "5.running_var",
                                           "5.num_batches_tracked", "6.weight"});
    std::vector<std::string> pnames, bnames, mnames;
    for (auto& [k, t] : model.named_parameters()) pnames.push_back(k);
    for (auto& [k, t] : model.named_buffers()) bnames.push_back(k);
    for (auto& [k, m] : model.named_modules()) mnames.push_back(k);
    CHECK(pnames == std::vector<std::string>{"0.weight", "0.bias", "3.weight", "4.weight", "4.bias",
                                             "5.weight", "5.bias", "6.weight"});
    CHECK(bnames == std::vector<std::string>{"4.running_mean", "4.running_var", "4.num_batches_tracked",
                                             "5.running_mean", "5.running_var", "5.num_batches_tracked"});
    CHECK(mnames == std::vector<std::string>{"", "0", "1", "2", "2.0", "2.1", "3", "4", "5", "6"});
    CHECK(model.parameters().size() == 8);
    for (const Tensor& p : model.parameters()) CHECK(p.requires_grad());
    CHECK(model.children().size() == 7);
    auto lin = model.at<nn::Linear>(0);
    CHECK(lin->in_features == 2);
    CHECK_THROWS_WITH_AS(model.at<nn::Linear>(1), doctest::Contains("module 1 is a ReLU"), TypeError);
    CHECK_THROWS_WITH_AS(model[7], doctest::Contains("index 7 is out of range"), IndexError);

    model.eval();
    for (nn::Module* m : model.modules()) CHECK(!m->is_training());
    model.train();
    CHECK(model.at<nn::BatchNorm1d>(4)->is_training());

    // state_dict shares memory (detached); load_state_dict copies values in.
    auto sd = model.state_dict();
    CHECK(sd[0].second.storage() == lin->weight.storage());
    CHECK(!sd[0].second.requires_grad());
    nn::Linear other(2, 3);
    other.load_state_dict({{"weight", lin->weight}, {"bias", lin->bias}});
    CHECK(equal(other.weight, lin->weight));
    CHECK_THROWS_WITH_AS(
        other.load_state_dict({{"weight", lin->weight}, {"extra", lin->bias}}),
        doctest::Contains("Error(s) in loading state_dict for Linear:\n\tMissing key(s) in state_dict: "
                          "\"bias\". \n\tUnexpected key(s) in state_dict: \"extra\". "),
        RuntimeError);
    auto keys_result = other.load_state_dict({{"weight", lin->weight}, {"extra", lin->bias}}, false);
    CHECK(keys_result.missing_keys == std::vector<std::string>{"bias"});
    CHECK(keys_result.unexpected_keys == std::vector<std::string>{"extra"});
    CHECK_THROWS_WITH_AS(
        other.load_state_dict({{"weight", zeros({3, 3})}, {"bias", zeros({3})}}),
        doctest::Contains("size mismatch for weight: copying a param with shape [3, 3] from checkpoint, "
                          "the shape in current model is [3, 2]."),
        RuntimeError);
    CHECK_THROWS_WITH_AS(nn::ReLU()(zeros({1})).sum().backward(), doctest::Contains("does not require grad"),
                         RuntimeError);
    struct NoForward : nn::Cloneable<NoForward> {
      void reset() override {}
      std::string name() const override { return "NoForward"; }
    };
    CHECK_THROWS_WITH_AS(NoForward()(zeros({1})),
                         doctest::Contains("Module [NoForward] is missing the required \"forward\" function"),
                         NotImplementedError);
  }

  TEST_CASE("zero_grad, to(dtype) and clone") {
    manual_seed(3);
    nn::Sequential model(nn::Linear(3, 2), nn::BatchNorm1d(2));
    model(randn({4, 3})).sum().backward();
    auto lin = model.at<nn::Linear>(0);
    CHECK(lin->weight.grad().defined());
    model.zero_grad(false);
    CHECK(lin->weight.grad().abs().sum().item<double>() == 0.0);
    model.zero_grad();
    CHECK(!lin->weight.grad().defined());

    Tensor w_before = lin->weight;
    model.to(kFloat64);
    CHECK(lin->weight.is_same(w_before));  // same tensor object, new data
    CHECK(lin->weight.dtype() == kFloat64);
    CHECK(model.at<nn::BatchNorm1d>(1)->running_mean.dtype() == kFloat64);
    CHECK(model.at<nn::BatchNorm1d>(1)->num_batches_tracked.dtype() == kInt64);
    CHECK_THROWS_WITH_AS(model.to(kInt64),
                         doctest::Contains("nn.Module.to only accepts floating point or complex dtypes"),
                         TypeError);

    uint64_t before = Generator(default_generator()).next_u64();
    auto copy = std::dynamic_pointer_cast<nn::Sequential>(model.clone());
    CHECK(Generator(default_generator()).next_u64() == before);  // clone draws no random numbers
    REQUIRE(copy);
    auto copy_lin = copy->at<nn::Linear>(0);
    CHECK(!copy_lin->weight.is_same(lin->weight));
    CHECK(copy_lin->weight.storage() != lin->weight.storage());
    CHECK(equal(copy_lin->weight, lin->weight));
    CHECK(copy_lin->weight.requires_grad());
    CHECK(equal(copy->at<nn::BatchNorm1d>(1)->running_var, model.at<nn::BatchNorm1d>(1)->running_var));
    {
      ag::NoGradGuard no_grad;
      copy_lin->weight.add_(1);
    }
    CHECK(!equal(copy_lin->weight, lin->weight));
    auto bn_copy = std::dynamic_pointer_cast<nn::BatchNorm1d>(model.at<nn::BatchNorm1d>(1)->clone());
    CHECK(bn_copy->running_mean.is_same(bn_copy->named_buffers()[0].second));
  }

  TEST_CASE("a custom module: registration, clone, apply, errors") {
    TwoLayer net;
    CHECK(net.parameters().size() == 4);
    CHECK(net.named_parameters()[2].first == "fc2.weight");
    CHECK(net(randn({3, 4})).sizes() == Shape{3, 1});
    auto copy = std::dynamic_pointer_cast<TwoLayer>(net.clone());
    REQUIRE(copy);
    CHECK(copy->fc1 != net.fc1);
    CHECK(copy->fc1->weight.is_same(copy->named_parameters()[0].second));
    CHECK(equal(copy->fc2->bias, net.fc2->bias));
    int visited = 0;
    net.apply([&](nn::Module& m) {
      if (dynamic_cast<nn::Linear*>(&m)) ++visited;
    });
    CHECK(visited == 2);
    CHECK(net.repr() ==
          "TwoLayer(\n  (fc1): Linear(in_features=4, out_features=8, bias=True)\n"
          "  (fc2): Linear(in_features=8, out_features=1, bias=True)\n)");
    CHECK_THROWS_WITH_AS(net.register_parameter("a.b", zeros({1})),
                         doctest::Contains("parameter name can't contain \".\""), KeyError);
    CHECK_THROWS_WITH_AS(net.register_parameter("c", ones({1}, {.requires_grad = true}) * 2),
                         doctest::Contains("Cannot assign non-leaf Tensor to parameter 'c'"), ValueError);
    struct Plain : nn::Module {
      std::string name() const override { return "Plain"; }
    };
    CHECK_THROWS_WITH_AS(Plain().clone(), doctest::Contains("clone: Plain does not support deep copies"),
                         NotImplementedError);
  }

  TEST_CASE("default initialisation follows PyTorch's distributions and is seeded") {
    manual_seed(42);
    nn::Linear a(50, 40);
    manual_seed(42);
    nn::Linear b(50, 40);
    CHECK(equal(a.weight, b.weight));
    CHECK(equal(a.bias, b.bias));
    Generator g(7);
    nn::Linear c(50, 40, {.generator = &g});
    CHECK(!equal(a.weight, c.weight));
    // kaiming_uniform(a = sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); its variance is bound^2 / 3.
    double bound = 1.0 / std::sqrt(50.0);
    CHECK(a.weight.abs().max().item<double>() <= bound);
    CHECK(a.weight.abs().max().item<double>() > 0.95 * bound);
    double var = a.weight.to(kFloat64).pow(Scalar(2)).mean().item<double>();
    CHECK(var == doctest::Approx(bound * bound / 3).epsilon(0.1));
    CHECK(a.bias.abs().max().item<double>() <= bound);
    CHECK(a.weight.dtype() == kFloat32);
    nn::Embedding e(100, 50);
    double m = e.weight.to(kFloat64).mean().item<double>();
    double v = e.weight.to(kFloat64).pow(Scalar(2)).mean().item<double>();
    CHECK(std::abs(m) < 0.05);
    CHECK(v == doctest::Approx(1.0).epsilon(0.05));
    nn::BatchNorm1d bn(3);
    CHECK(bn.weight.to_vector<float>() == std::vector<float>{1, 1, 1});
    CHECK(bn.bias.to_vector<float>() == std::vector<float>{0, 0, 0});
    CHECK(nn::init::calculate_gain("leaky_relu", std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3.0)));
    CHECK(nn::init::calculate_gain("tanh") == doctest::Approx(5.0 / 3.0));
    CHECK_THROWS_WITH_AS(nn::init::calculate_gain("swish"),
                         doctest::Contains("Unsupported nonlinearity swish"), ValueError);
    CHECK_THROWS_WITH_AS(
        nn::init::kaiming_uniform_(zeros({3})),
        doctest::Contains("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"),
        ValueError);
    CHECK_THROWS_WITH_AS(nn::init::kaiming_uniform_(zeros({3, 3}), 0, "fan_avg"),
                         doctest::Contains("Mode fan_avg not supported, please use one of fan_in, fan_out"),
                         ValueError);
    auto [fan_in, fan_out] = nn::init::calculate_fan_in_and_fan_out(zeros({4, 3, 2}));
    CHECK(fan_in == 6);
    CHECK(fan_out == 8);
    Tensor t = zeros({200, 100});
    nn::init::xavier_uniform_(t);
    CHECK(t.abs().max().item<double>() <= std::sqrt(6.0 / 300.0));
  }

  TEST_CASE("parameters_to_vector and vector_to_parameters") {
    nn::Linear lin(2, 3);
    Tensor v = nn::utils::parameters_to_vector(lin.parameters());
    CHECK(v.sizes() == Shape{9});
    CHECK(equal(v.narrow(0, 0, 6).view({3, 2}), lin.weight));
    Tensor w_before = lin.weight;
    Tensor fresh = arange(9, {.dtype = kFloat32});
    nn::utils::vector_to_parameters(fresh, lin.parameters());
    CHECK(lin.weight.is_same(w_before));
    CHECK(lin.weight.to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
    CHECK(lin.bias.to_vector<float>() == std::vector<float>{6, 7, 8});
    CHECK(lin.weight.storage() == fresh.storage());  // PyTorch's `param.data = vec[...]` shares memory
    CHECK(lin.weight.requires_grad());
    CHECK_THROWS_WITH_AS(nn::utils::vector_to_parameters(arange(5, {.dtype = kFloat32}), lin.parameters()),
                         doctest::Contains("the vector has 5 elements but the parameters need 9"),
                         ShapeError);
  }

  TEST_CASE("analytic problems") {
    problems::Rosenbrock rosen;
    CHECK(rosen(rosen.minimizer()).item<double>() == 0.0);
    Tensor x = rosen.initial_point().requires_grad_();
    Tensor f = rosen(x);
    CHECK(f.item<double>() == doctest::Approx(24.2));
    f.backward();
    auto g = x.grad().to_vector<double>();
    CHECK(g[0] == doctest::Approx(-215.6));
    CHECK(g[1] == doctest::Approx(-88.0));
    CHECK(ag::gradgradcheck([&](const std::vector<Tensor>& in) { return rosen(in[0]); },
                            {rosen.initial_point().requires_grad_()}));
    CHECK_THROWS_WITH_AS(rosen(zeros({3})), doctest::Contains("Rosenbrock: expected a vector of 2 elements"),
                         ShapeError);

    problems::Quadratic quad(6, 1e3, 1);
    CHECK(quad(quad.minimizer()).item<double>() == doctest::Approx(0.0));
    Tensor h = quad.hessian();
    CHECK(allclose(h, h.t(), 0, 1e-12));
    Tensor q = quad.initial_point().requires_grad_();
    quad(q).backward();
    CHECK(allclose(q.grad(), matmul(h, sub(q.detach(), quad.minimizer())), 1e-10, 1e-12));
    CHECK_THROWS_WITH_AS(problems::Quadratic(3, 0.5), doctest::Contains("condition_number must be >= 1"),
                         ValueError);

    problems::LogisticRegression logreg(200, 4, 1e-2, 5);
    Tensor w = logreg.minimizer().requires_grad_();
    logreg(w).backward();
    CHECK(w.grad().abs().max().item<double>() < 1e-10);  // the Newton solution is stationary
    CHECK(logreg(logreg.initial_point()).item<double>() > logreg.minimum());
    CHECK(logreg.accuracy(logreg.minimizer()) > 0.7);
    // Plain gradient descent converges towards the reference minimum.
    Tensor p = logreg.initial_point().requires_grad_();
    for (int i = 0; i < 300; ++i) {
      p.mutable_grad() = Tensor();
      logreg(p).backward();
      ag::NoGradGuard no_grad;
      p.sub_(p.grad(), 1.0);
    }
    CHECK(logreg(p).item<double>() - logreg.minimum() < 1e-4);
  }
}
