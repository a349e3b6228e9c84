// Tensor printing: repr() must equal PyTorch's print(t) character for
// character (fixtures from scripts/fixtures/tensor_ops.py): integer, bool,
// float int mode, fixed and scientific modes, NaN/inf, complex, dtype
// suffixes, empty, 0-dim, line wrapping, summarisation, sparse, requires_grad;
// Scalar and Value through operator<<.
#include <doctest/doctest.h>

#include <sstream>

#include "descent/descent.h"
#include "tensor_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

Tensor build(const FixtureCase& c) {
  if (config(c, "make") == "arange") {
    int64_t start = config_int(c, "start");
    Tensor t = arange(start, start + config_int(c, "count")).to(parse_dtype(config(c, "dtype")));
    return mul(t, number(c, "scale")).reshape(parse_list(config(c, "shape")));
  }
  if (c.has("indices")) {
    return sparse_coo_tensor(c.tensor("indices"), c.tensor("values"), parse_list(config(c, "size")),
                             config_int(c, "coalesced") != 0);
  }
  Tensor x = c.tensor("x");
  if (config_int(c, "requires_grad")) x.requires_grad_(true);
  return x;
}

}  // namespace

TEST_CASE("repr matches PyTorch's print") {
  int checked = 0;
  for (const FixtureCase& c : load_fixture("tensor/repr.txt")) {
    Tensor t = build(c);
    std::string expected = unescape(c.scalars.at("repr"));
    CHECK_MESSAGE(t.repr() == expected, c.name, "\n--- descent:\n", t.repr(), "\n--- PyTorch:\n", expected);
    ++checked;
  }
  CHECK(checked > 60);
}

TEST_CASE("operator<< and str print the repr") {
  Tensor t = tensor<float>({1.5f, 2.0f});
  std::ostringstream out;
  out << t;
  CHECK(out.str() == "tensor([1.5000, 2.0000])");
  CHECK(t.str() == t.repr());
  std::ostringstream names;
  names << kBFloat16 << " " << Device(kCUDA, 1) << " " << Device("cpu");
  CHECK(names.str() == "torch.bfloat16 cuda:1 cpu");
  CHECK(Tensor().repr() == "tensor(undefined)");
}

TEST_CASE("the default dtype decides which dtype suffixes print") {
  DefaultDtypeGuard guard;
  set_default_dtype(kFloat64);
  CHECK(tensor<double>({1.5}).repr() == "tensor([1.5000])");
  CHECK(tensor<float>({1.5f}).repr() == "tensor([1.5000], dtype=torch.float32)");
  CHECK(tensor<std::complex<double>>({{1, 1}}).repr() == "tensor([1.+1.j])");
  CHECK(zeros({0}, {.dtype = kFloat32}).repr() == "tensor([], dtype=torch.float32)");
  set_default_dtype(kFloat32);
  CHECK(tensor<double>({1.5}).repr() == "tensor([1.5000], dtype=torch.float64)");
}

TEST_CASE("Python number formatting (format_double, Scalar::str)") {
  CHECK(format_double(0.1) == "0.1");
  CHECK(format_double(1e-8) == "1e-08");
  CHECK(format_double(1e16) == "1e+16");
  CHECK(format_double(123456789.0) == "123456789.0");
  CHECK(format_double(-0.0) == "-0.0");
  CHECK(format_double(0.0001) == "0.0001");
  CHECK(format_double(0.00001) == "1e-05");
  CHECK(format_double(1.0 / 3.0) == "0.3333333333333333");
  CHECK(format_double(2.5e-300) == "2.5e-300");
  CHECK(format_double(INFINITY) == "inf");
  CHECK(format_double(-INFINITY) == "-inf");
  CHECK(format_double(NAN) == "nan");
  CHECK(Scalar(3).str() == "3");
  CHECK(Scalar(true).str() == "True");
  CHECK(Scalar(2.0).str() == "2.0");
  CHECK(Scalar(std::complex<double>(1, 2)).str() == "(1+2j)");
  CHECK(Scalar(std::complex<double>(0, -2.5)).str() == "-2.5j");
  CHECK(Scalar(std::complex<double>(-1.5, 0)).str() == "(-1.5+0j)");
}

TEST_CASE("Scalar and Value print as Python's repr through operator<<") {
  std::ostringstream out;
  out << Scalar(0.5) << " " << Scalar(int64_t{3}) << " " << Scalar(true);
  CHECK(out.str() == "0.5 3 True");
  std::ostringstream group;
  group << Value(1e-3) << " " << Value::tuple({0.9, 0.999}) << " " << Value() << " " << Value("lr");
  CHECK(group.str() == "0.001 (0.9, 0.999) None lr");  // a string prints as Python's print() shows it
}
