// Reductions, dot products, matmul, cat and stack against PyTorch (fixtures
// from scripts/fixtures/tensor_ops.py): every dtype, dims/keepdim/dtype
// arguments, norms of every order, NaN propagation, 0-dim and empty inputs,
// every matmul shape class (1-D, 2-D, batched, broadcast batch, empty), and
// the combinations PyTorch rejects.
#include <doctest/doctest.h>

#include <set>

#include "descent/descent.h"
#include "tensor_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

// Extremes, logical reductions, indices and concatenation copy values: exact.
// Sums, means, products, norms and matrix products round in an order that is
// PyTorch's own (vectorised, cascaded); descent's differs, so they agree to a
// few ulps of the accumulation type, then to one ulp of float16/bfloat16.
// PyTorch's float16/bfloat16 prod rounds every partial product to the dtype;
// descent multiplies in float and rounds once: a few ulps apart.
Tolerance tolerance(const std::string& op, Dtype dtype) {
  static const std::set<std::string> ordered{"sum", "mean", "prod", "norm", "dot", "vdot", "matmul"};
  if (!ordered.count(op) || is_integral(dtype, true)) return {};
  if (op == "prod" && dtype == kFloat16) return {1e-2, 0};
  if (op == "prod" && dtype == kBFloat16) return {5e-2, 0};
  switch (to_real_dtype(dtype)) {
    case kFloat16: return {1e-3, 1e-3};
    case kBFloat16: return {8e-3, 8e-3};
    case kFloat32: return {2e-6, 2e-6};
    default: return {1e-13, 1e-13};
  }
}

struct Result {
  Tensor values, indices;
};

const std::vector<FixtureCase>& cases() {
  static const std::vector<FixtureCase> all = load_fixture("tensor/reduce.txt");
  return all;
}

// An input written once for many cases (config shared_<key>=<case name>).
Tensor input(const FixtureCase& c, const std::string& key) {
  std::string shared = config(c, "shared_" + key);
  if (shared.empty()) return c.has(key) ? c.tensor(key) : Tensor();
  for (const FixtureCase& other : cases())
    if (other.name == shared) return other.tensor("a");
  raise<KeyError>("fixture case ", c.name, " names a missing shared input ", shared);
}

Result run(const FixtureCase& c) {
  const std::string op = config(c, "op");
  Tensor a = input(c, "a");
  bool keepdim = config_int(c, "keepdim") != 0;
  bool has_dims = has_config(c, "dims");
  Shape dims = parse_list(config(c, "dims"));
  std::optional<Dtype> dtype;
  if (has_config(c, "dtype")) dtype = parse_dtype(config(c, "dtype"));
  if (op == "sum") return {has_dims ? a.sum(dims, keepdim, dtype) : a.sum(dtype)};
  if (op == "mean") return {has_dims ? a.mean(dims, keepdim, dtype) : a.mean(dtype)};
  if (op == "prod") return {a.prod(dtype)};
  if (op == "amax") return {has_dims ? a.amax(dims, keepdim) : a.amax()};
  if (op == "amin") return {has_dims ? a.amin(dims, keepdim) : a.amin()};
  if (op == "max" || op == "min") {
    if (!has_config(c, "dim")) return {op == "max" ? a.max() : a.min()};
    auto [v, i] = op == "max" ? a.max(config_int(c, "dim"), keepdim) : a.min(config_int(c, "dim"), keepdim);
    return {v, i};
  }
  if (op == "all") return {a.all()};
  if (op == "any") return {a.any()};
  if (op == "norm") {
    double p = config_double(c, "p");
    return {has_dims ? norm(a, p, dims, keepdim) : a.norm(p)};
  }
  if (op == "dot") return {dot(a, c.tensor("b"))};
  if (op == "vdot") return {vdot(a, c.tensor("b"))};
  if (op == "matmul") return {matmul(a, c.tensor("b"))};
  std::vector<Tensor> parts;
  for (const char* k : {"a", "b", "c"})
    if (c.has(k)) parts.push_back(c.tensor(k));
  if (op == "cat") return {cat(parts, config_int(c, "dim"))};
  if (op == "stack") return {stack(parts, config_int(c, "dim"))};
  FAIL("unknown op ", op, " in ", c.name);
  return {};
}

void check_cases(const std::string& prefix) {
  int checked = 0;
  for (const FixtureCase& c : cases()) {
    if (c.name.rfind(prefix, 0) != 0) continue;
    ++checked;
    if (has_config(c, "error")) {
      try {
        Result r = run(c);
        FAIL_CHECK(c.name, ": PyTorch raises ", config(c, "error"), " but descent returned ", r.values.repr());
      } catch (const descent::Error&) {
      }
      continue;
    }
    Result r;
    try {
      r = run(c);
    } catch (const std::exception& e) {
      FAIL_CHECK(c.name, " threw: ", std::string(e.what()));
      continue;
    }
    const Tensor& expected = c.tensor("out");
    std::string m = mismatch(r.values, expected, tolerance(config(c, "op"), expected.dtype()));
    if (!m.empty()) FAIL_CHECK(c.name, ": ", m);
    if (c.has("indices")) {
      std::string mi = mismatch(r.indices, c.tensor("indices"));
      if (!mi.empty()) FAIL_CHECK(c.name, " indices: ", mi);
    }
  }
  CHECK(checked > 0);
}

}  // namespace

TEST_CASE("sum, mean and prod, with dims, keepdim and dtype") {
  check_cases("sum/");
  check_cases("mean/");
  check_cases("prod/");
}

TEST_CASE("max, min, amax, amin (values and indices, NaN propagates)") {
  check_cases("max/");
  check_cases("min/");
  check_cases("amax/");
  check_cases("amin/");
}

TEST_CASE("all and any") {
  check_cases("all/");
  check_cases("any/");
}

TEST_CASE("norm: p = 2, inf, -inf, 0, 1, 3, 0.5 over all elements and over dims") { check_cases("norm/"); }

TEST_CASE("dot and vdot") {
  check_cases("dot/");
  check_cases("vdot/");
}

TEST_CASE("matmul: 1-D, 2-D, batched, broadcast batch, empty") { check_cases("matmul/"); }

TEST_CASE("cat and stack") {
  check_cases("cat/");
  check_cases("stack/");
}

TEST_CASE("reductions over dims keep storage-independent results") {
  // keepdim results are ordinary tensors: writing into one leaves the input alone.
  Tensor x = arange(6, {.dtype = kFloat32}).reshape({2, 3});
  Tensor s = x.sum({1}, true);
  CHECK(s.sizes() == Shape{2, 1});
  s.fill_(0);
  CHECK(x.sum().item<double>() == 15.0);
  // Duplicate dims are an error, as in PyTorch.
  CHECK_THROWS_WITH_AS(x.sum({1, -1}), doctest::Contains("appears multiple times"), descent::ValueError);
  CHECK_THROWS_WITH_AS(x.sum({2}), doctest::Contains("dimension out of range"), descent::IndexError);
  CHECK_THROWS_WITH_AS(x.max(5), doctest::Contains("dimension out of range"), descent::IndexError);
  CHECK_THROWS_WITH_AS(norm(x, -1.0), doctest::Contains("p must be positive"), descent::ValueError);
  CHECK_THROWS_WITH_AS(x.to(kInt64).mean(), doctest::Contains("Input dtype must be either a floating point"),
                       descent::TypeError);
  CHECK_THROWS_WITH_AS(empty({0, 3}).max(), doctest::Contains("numel() == 0"), descent::IndexError);
  CHECK_THROWS_WITH_AS(empty({0, 3}).max(0), doctest::Contains("to have non-zero size"), descent::IndexError);
  CHECK_THROWS_WITH_AS(ones({2}, {.dtype = kComplex64}).max(), doctest::Contains("complex"), descent::TypeError);
}
