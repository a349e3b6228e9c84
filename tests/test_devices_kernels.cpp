// The CPU backend's reductions, matmul and thread pool, called through
// backend_for(kCPU) on raw buffers, against plain references.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "descent/devices/backend.h"
#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices_testing.h"

using namespace descent;
using namespace descent::testing;

namespace {

ReduceArgs reduction(ReduceOp op, const void* in, Dtype in_dtype, void* out, Dtype out_dtype,
                     std::initializer_list<int64_t> sizes, std::initializer_list<bool> reduce) {
  ReduceArgs args;
  args.op = op;
  args.in = in;
  args.in_dtype = in_dtype;
  args.out = out;
  args.out_dtype = out_dtype;
  args.ndim = static_cast<int>(sizes.size());
  std::copy(sizes.begin(), sizes.end(), args.sizes.begin());
  std::copy(reduce.begin(), reduce.end(), args.reduce.begin());
  return args;
}

}  // namespace

TEST_CASE("sum, mean, prod and norms over every set of dims of a 3-d array") {
  const int64_t s0 = 3, s1 = 4, s2 = 5;
  std::vector<double> x(s0 * s1 * s2);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<double>(i)) * 2 + 0.1;
  for (int mask = 0; mask < 8; ++mask) {
    const bool r0 = mask & 4, r1 = mask & 2, r2 = mask & 1;
    INFO("reduce mask ", mask);
    const int64_t o0 = r0 ? 1 : s0, o1 = r1 ? 1 : s1, o2 = r2 ? 1 : s2;
    std::vector<double> sum(o0 * o1 * o2), prod(sum.size()), mean(sum.size()), n2(sum.size()), n3(sum.size()),
        ninf(sum.size()), want_sum(sum.size(), 0.0), want_prod(sum.size(), 1.0), want_n2(sum.size(), 0.0),
        want_n3(sum.size(), 0.0), want_inf(sum.size(), 0.0);
    for (int64_t i = 0; i < s0; ++i)
      for (int64_t j = 0; j < s1; ++j)
        for (int64_t k = 0; k < s2; ++k) {
          const int64_t o = ((r0 ? 0 : i) * o1 + (r1 ? 0 : j)) * o2 + (r2 ? 0 : k);
          const double v = x[(i * s1 + j) * s2 + k];
          want_sum[o] += v;
          want_prod[o] *= v;
          want_n2[o] += v * v;
          want_n3[o] += std::pow(std::fabs(v), 3.0);
          want_inf[o] = std::max(want_inf[o], std::fabs(v));
        }
    const int64_t count = (r0 ? s0 : 1) * (r1 ? s1 : 1) * (r2 ? s2 : 1);
    cpu().reduce(reduction(ReduceOp::Sum, x.data(), kFloat64, sum.data(), kFloat64, {s0, s1, s2}, {r0, r1, r2}));
    cpu().reduce(reduction(ReduceOp::Prod, x.data(), kFloat64, prod.data(), kFloat64, {s0, s1, s2}, {r0, r1, r2}));
    cpu().reduce(reduction(ReduceOp::Mean, x.data(), kFloat64, mean.data(), kFloat64, {s0, s1, s2}, {r0, r1, r2}));
    cpu().reduce(reduction(ReduceOp::NormP2, x.data(), kFloat64, n2.data(), kFloat64, {s0, s1, s2}, {r0, r1, r2}));
    auto p3 = reduction(ReduceOp::NormP, x.data(), kFloat64, n3.data(), kFloat64, {s0, s1, s2}, {r0, r1, r2});
    p3.p = 3.0;
    cpu().reduce(p3);
    cpu().reduce(reduction(ReduceOp::NormInf, x.data(), kFloat64, ninf.data(), kFloat64, {s0, s1, s2}, {r0, r1, r2}));
    for (std::size_t o = 0; o < sum.size(); ++o) {
      CHECK(sum[o] == doctest::Approx(want_sum[o]).epsilon(1e-12));
      CHECK(prod[o] == doctest::Approx(want_prod[o]).epsilon(1e-12));
      CHECK(mean[o] == doctest::Approx(want_sum[o] / count).epsilon(1e-12));
      CHECK(n2[o] == doctest::Approx(std::sqrt(want_n2[o])).epsilon(1e-12));
      CHECK(n3[o] == doctest::Approx(std::cbrt(want_n3[o])).epsilon(1e-12));
      CHECK(ninf[o] == want_inf[o]);
    }
  }
}

TEST_CASE("reduction dtypes, identities and accuracy") {
  // bool and int64 sum in int64 (the output's dtype).
  const unsigned char flags[] = {1, 0, 1, 1};
  int64_t count = 0;
  cpu().reduce(reduction(ReduceOp::Sum, flags, kBool, &count, kInt64, {4}, {true}));
  CHECK(count == 3);
  bool all = true, any = false;
  cpu().reduce(reduction(ReduceOp::All, flags, kBool, &all, kBool, {4}, {true}));
  cpu().reduce(reduction(ReduceOp::Any, flags, kBool, &any, kBool, {4}, {true}));
  CHECK_FALSE(all);
  CHECK(any);
  // Empty reductions give the identity; mean of nothing is NaN.
  double s = 7, p = 7, m = 7, n = 7;
  cpu().reduce(reduction(ReduceOp::Sum, nullptr, kFloat64, &s, kFloat64, {0}, {true}));
  cpu().reduce(reduction(ReduceOp::Prod, nullptr, kFloat64, &p, kFloat64, {0}, {true}));
  cpu().reduce(reduction(ReduceOp::Mean, nullptr, kFloat64, &m, kFloat64, {0}, {true}));
  cpu().reduce(reduction(ReduceOp::NormP2, nullptr, kFloat64, &n, kFloat64, {0}, {true}));
  CHECK(s == 0);
  CHECK(p == 1);
  CHECK(std::isnan(m));
  CHECK(n == 0);
  // A 0-d input, and a reduction over a size-1 dimension only.
  const double scalar = -4.5;
  double r = 0;
  cpu().reduce(reduction(ReduceOp::NormInf, &scalar, kFloat64, &r, kFloat64, {}, {}));
  CHECK(r == 4.5);
  const std::vector<double> v = {1, -2, 3};
  std::vector<double> vo(3);
  cpu().reduce(reduction(ReduceOp::NormP2, v.data(), kFloat64, vo.data(), kFloat64, {3, 1}, {false, true}));
  CHECK(vo == std::vector<double>{1, 2, 3});
  bool e_all = false, e_any = true;
  cpu().reduce(reduction(ReduceOp::All, nullptr, kBool, &e_all, kBool, {2, 0}, {true, true}));
  cpu().reduce(reduction(ReduceOp::Any, nullptr, kBool, &e_any, kBool, {2, 0}, {true, true}));
  CHECK(e_all);
  CHECK_FALSE(e_any);
  // float32 sums stay accurate over a million elements (pairwise, not a running sum).
  std::vector<float> tenths(1 << 20, 0.1f);
  float total = 0;
  cpu().reduce(reduction(ReduceOp::Sum, tenths.data(), kFloat32, &total, kFloat32, {1 << 20}, {true}));
  CHECK(total == doctest::Approx(0.1f * static_cast<double>(1 << 20)).epsilon(1e-6));
  std::vector<float> cols(3 * 100000, 0.1f), col_sums(3);
  cpu().reduce(reduction(ReduceOp::Sum, cols.data(), kFloat32, col_sums.data(), kFloat32, {100000, 3}, {true, false}));
  CHECK(col_sums[2] == doctest::Approx(0.1f * 100000.0).epsilon(1e-6));
  // float16 mean: accumulate in float, round the sum, then divide.
  std::vector<Half> h(10, Half(0.1f));
  Half hm;
  cpu().reduce(reduction(ReduceOp::Mean, h.data(), kFloat16, &hm, kFloat16, {10}, {true}));
  const float rounded_sum = Half(10 * static_cast<float>(Half(0.1f)));
  CHECK(hm.bits == Half(rounded_sum / 10.0f).bits);
  // sum(float16, dtype=float32) converts first, then sums in float.
  float hs = 0;
  cpu().reduce(reduction(ReduceOp::Sum, h.data(), kFloat16, &hs, kFloat32, {10}, {true}));
  CHECK(hs == doctest::Approx(10 * static_cast<float>(Half(0.1f))));
  // Norms of complex input write the real dtype.
  const std::vector<c64> z = {{3, 4}, {0, 0}};
  float zn = 0;
  cpu().reduce(reduction(ReduceOp::NormP2, z.data(), kComplex64, &zn, kFloat32, {2}, {true}));
  CHECK(zn == 5.0f);
  c64 zs;
  cpu().reduce(reduction(ReduceOp::Sum, z.data(), kComplex64, &zs, kComplex64, {2}, {true}));
  CHECK(zs == c64(3, 4));
  CHECK_THROWS_WITH_AS(cpu().reduce(reduction(ReduceOp::Max, z.data(), kComplex64, &zs, kComplex64, {2}, {true})),
                       doctest::Contains("max: not implemented for input torch.complex64"), NotImplementedError);
  CHECK_THROWS_WITH_AS(cpu().reduce(reduction(ReduceOp::NormP2, flags, kBool, &zn, kFloat32, {4}, {true})),
                       doctest::Contains("norm: not implemented"), NotImplementedError);
}

TEST_CASE("max and min with indices: first occurrence, NaN propagates") {
  const std::vector<float> x = {1, 5, 5, 2,   //
                                NAN, 3, NAN, 9,  //
                                -1, -1, -4, -4};
  std::vector<float> values(3);
  std::vector<int64_t> idx(3);
  auto args = reduction(ReduceOp::Max, x.data(), kFloat32, values.data(), kFloat32, {3, 4}, {false, true});
  args.indices = idx.data();
  cpu().reduce(args);
  CHECK(values[0] == 5);
  CHECK(idx[0] == 1);
  CHECK(std::isnan(values[1]));
  CHECK(idx[1] == 0);
  CHECK(values[2] == -1);
  CHECK(idx[2] == 0);
  args.op = ReduceOp::Min;
  cpu().reduce(args);
  CHECK(values[0] == 1);
  CHECK(idx[0] == 0);
  CHECK(std::isnan(values[1]));
  CHECK(values[2] == -4);
  CHECK(idx[2] == 2);
  // Over dim 0 (the innermost dim kept).
  std::vector<float> v4(4);
  std::vector<int64_t> i4(4);
  auto cols = reduction(ReduceOp::Max, x.data(), kFloat32, v4.data(), kFloat32, {3, 4}, {true, false});
  cols.indices = i4.data();
  cpu().reduce(cols);
  CHECK(std::isnan(v4[0]));
  CHECK(i4[0] == 1);
  CHECK(v4[1] == 5);
  CHECK(i4[1] == 0);
  CHECK(std::isnan(v4[2]));
  CHECK(i4[2] == 1);
  CHECK(v4[3] == 9);
  CHECK(i4[3] == 1);
  // Over everything: the flat index.
  const std::vector<int64_t> ints = {4, 9, 2, 9};
  int64_t best = 0, where = -1;
  auto flat = reduction(ReduceOp::Max, ints.data(), kInt64, &best, kInt64, {2, 2}, {true, true});
  flat.indices = &where;
  cpu().reduce(flat);
  CHECK(best == 9);
  CHECK(where == 1);
  CHECK_THROWS_AS(cpu().reduce(reduction(ReduceOp::Max, nullptr, kInt64, &best, kInt64, {0}, {true})), IndexError);
}

// Row-major operands, batch stride 0 when broadcast.
void row_major_matmul(Dtype dtype, const void* a, const void* c, void* out, int64_t b, int64_t m, int64_t k, int64_t n,
                      bool broadcast_a, bool broadcast_c) {
  cpu().matmul(dtype, {a, broadcast_a ? 0 : m * k, k, 1}, {c, broadcast_c ? 0 : k * n, n, 1}, out, b, m, k, n);
}

TEST_CASE("matmul: dtypes, batches and broadcasting") {
  const int64_t b = 3, m = 5, k = 7, n = 4;
  std::vector<double> a(b * m * k), c(b * k * n);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::cos(0.37 * static_cast<double>(i));
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = std::sin(0.11 * static_cast<double>(i));
  for (bool bcast_a : {false, true}) {
    for (bool bcast_c : {false, true}) {
      std::vector<double> out(b * m * n);
      row_major_matmul(kFloat64, a.data(), c.data(), out.data(), b, m, k, n, bcast_a, bcast_c);
      for (int64_t t = 0; t < b; ++t)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double want = 0;
            for (int64_t p = 0; p < k; ++p)
              want += a[(bcast_a ? 0 : t) * m * k + i * k + p] * c[(bcast_c ? 0 : t) * k * n + p * n + j];
            CHECK(out[(t * m + i) * n + j] == doctest::Approx(want).epsilon(1e-12));
          }
    }
  }
  std::vector<float> af(a.begin(), a.end()), cf(c.begin(), c.end()), of(b * m * n);
  std::vector<double> od(b * m * n);
  row_major_matmul(kFloat32, af.data(), cf.data(), of.data(), b, m, k, n, false, false);
  row_major_matmul(kFloat64, a.data(), c.data(), od.data(), b, m, k, n, false, false);
  for (std::size_t i = 0; i < of.size(); ++i) CHECK(of[i] == doctest::Approx(od[i]).epsilon(1e-5));
  std::vector<Half> ah(af.begin(), af.end()), ch(cf.begin(), cf.end()), oh(b * m * n);
  row_major_matmul(kFloat16, ah.data(), ch.data(), oh.data(), b, m, k, n, false, false);
  for (std::size_t i = 0; i < oh.size(); ++i) CHECK(static_cast<float>(oh[i]) == doctest::Approx(od[i]).epsilon(1e-2));
  const std::vector<int64_t> ai = {1, 2, 3, 4, 5, 6}, ci = {7, 8, 9, 10, 11, 12};
  std::vector<int64_t> oi(4);
  row_major_matmul(kInt64, ai.data(), ci.data(), oi.data(), 1, 2, 3, 2, false, false);
  CHECK(oi == std::vector<int64_t>{58, 64, 139, 154});
  const std::vector<c64> az = {{0, 1}, {1, 0}}, cz = {{0, 1}, {2, 0}};
  c64 oz;
  row_major_matmul(kComplex64, az.data(), cz.data(), &oz, 1, 1, 2, 1, false, false);
  CHECK(oz == c64(1, 0));
  const unsigned char bb[] = {1};
  unsigned char bo[1];
  CHECK_THROWS_WITH_AS(row_major_matmul(kBool, bb, bb, bo, 1, 1, 1, 1, false, false),
                       doctest::Contains("matmul: not implemented for torch.bool"), NotImplementedError);
  // k == 0 gives zeros.
  std::vector<double> zero_k(4, 9.0);
  row_major_matmul(kFloat64, nullptr, nullptr, zero_k.data(), 1, 2, 0, 2, false, false);
  CHECK(zero_k == std::vector<double>(4, 0.0));
}

TEST_CASE("thread pool: parallel_for and thread-count independent results") {
  CHECK_THROWS_WITH_AS(set_num_threads(0), doctest::Contains("invalid number of threads 0"), ValueError);
  const int original = get_num_threads();
  CHECK(original >= 1);
  // Every index exactly once, nested calls run inline, exceptions reach the caller.
  set_num_threads(4);
  std::vector<int> hits(1000003, 0);
  parallel_for(0, static_cast<int64_t>(hits.size()), 1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ++hits[i];
    parallel_for(0, 10, 1, [](int64_t, int64_t) {});
  });
  CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
  CHECK_THROWS_WITH_AS(parallel_for(0, 100000, 10, [](int64_t b, int64_t) {
                         if (b > 0) raise<ValueError>("chunk failed");
                       }),
                       doctest::Contains("chunk failed"), ValueError);

  const int64_t n = 3 * kGrainSize + 17, big = 300007;  // big: a full sum split into pieces
  std::vector<float> a(n), b(n), c(n), d(big);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < n; ++i) {
    a[i] = normal(rng);
    b[i] = normal(rng);
    c[i] = std::fabs(normal(rng)) + 0.1f;
  }
  for (float& v : d) v = normal(rng);
  auto run = [&](int threads) {
    set_num_threads(threads);
    std::vector<float> out(n), bcast(n);
    float total = 0;
    auto args = launch({n}, {tensor_in(a.data(), kFloat32), tensor_in(b.data(), kFloat32), tensor_in(c.data(), kFloat32)},
                       out.data(), kFloat32);
    args.scalars[0] = 0.3;
    cpu().elementwise(BinaryOp::Addcdiv, args);
    cpu().unary(UnaryOp::Sigmoid, kFloat32, out.data(), out.data(), kFloat32, n);
    cpu().elementwise(BinaryOp::Add, launch({n / 7, 7}, {tensor_in(a.data(), kFloat32), tensor_in(c.data(), kFloat32, {0, 1})},
                                            bcast.data(), kFloat32));
    cpu().reduce(reduction(ReduceOp::Sum, d.data(), kFloat32, &total, kFloat32, {big}, {true}));
    out.insert(out.end(), bcast.begin(), bcast.begin() + (n / 7) * 7);
    out.push_back(total);
    return out;
  };
  const std::vector<float> one = run(1), four = run(4);
  CHECK(std::memcmp(one.data(), four.data(), one.size() * sizeof(float)) == 0);
  set_num_threads(original);
}
