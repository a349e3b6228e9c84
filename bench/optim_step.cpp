// bench/optim_step: one optimizer step, per optimizer x implementation
// (forloop, default = neither flag, foreach, fused) x
// workload x thread count, then SparseAdam and sparse Adagrad on an
// embedding table of which each step touches 1% of the rows, then Adafactor
// on workloads (a) and (b), and Muon on a stack of 1024x1024 matrices. Prints
// the median step time, ns per element, effective GB/s and its fraction of
// the roof (the same traffic pattern run by bench/memory_probe.h in this
// process, at the same thread count); Muon's rows print GFLOP/s instead, as
// its step is the Newton–Schulz matmuls.
//   ./build/bench/optim_step [repeats=9] [filter]
// filter: run only rows whose "optimizer/impl/workload" contains it.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "bench/memory_probe.h"
#include "descent/descent.h"

using namespace descent;

namespace {
struct Workload {
  std::string name;
  std::vector<Shape> shapes;
};

std::vector<Workload> workloads() {
  Workload flat{"a:1x16M", {{int64_t{1} << 24}}};
  Workload model{"b:200-tensors", {}};
  for (int i = 0; i < 100; ++i) {
    model.shapes.push_back({400, 400});
    model.shapes.push_back({768});
  }
  Workload small{"c:2000x100", std::vector<Shape>(2000, Shape{100})};
  return {flat, model, small};
}

struct OptimizerSpec {
  std::string name;
  int states;  // per-element state arrays: the bytes moved are 12 + 8 per state (float32)
  std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>, std::optional<bool>, std::optional<bool>)> make;
};

// An optimizer built by name with these options plus the implementation flags.
OptimizerSpec by_name(std::string label, const std::string& name, int states, Dict options = {}) {
  return {std::move(label), states,
          [name, options](std::vector<Tensor> p, std::optional<bool> foreach, std::optional<bool> fused) {
            Dict kwargs = options;
            kwargs.set("foreach", foreach ? Value(*foreach) : Value());
            kwargs.set("fused", fused ? Value(*fused) : Value());
            return optim::make_optimizer(name, optim::Params(std::move(p)), kwargs);
          }};
}

std::vector<OptimizerSpec> optimizers() {
  return {by_name("SGD(momentum)", "SGD", 1, Dict{{"lr", 1e-3}, {"momentum", 0.9}}),
          by_name("Adam", "Adam", 2),
          by_name("AdamW", "AdamW", 2),
          by_name("Adadelta", "Adadelta", 2),
          by_name("Adagrad", "Adagrad", 1),
          by_name("Adamax", "Adamax", 2),
          by_name("ASGD", "ASGD", 1),
          by_name("NAdam", "NAdam", 2),
          by_name("RAdam", "RAdam", 2),
          by_name("RMSprop", "RMSprop", 1),
          by_name("RMSprop(c,m)", "RMSprop", 3, Dict{{"momentum", 0.9}, {"centered", true}}),
          by_name("Rprop", "Rprop", 2)};
}
// The sparse workload: an embedding table of 1M x 64 float32 whose step
// touches 1% of the rows (one random row in each block of 100), through a
// coalesced sparse grad. The bytes counted are those the touched rows need:
// the grad's values, and param and state read and written at those rows.
constexpr int64_t kTableRows = 1000000, kTableWidth = 64, kRowsPerTouch = 100;
const char* const kSparseWorkload = "s:1Mx64@1%";

Tensor touched_rows_grad(Generator& gen) {
  std::vector<int64_t> rows;
  for (int64_t block = 0; block < kTableRows / kRowsPerTouch; ++block)
    rows.push_back(block * kRowsPerTouch +
                   static_cast<int64_t>(rand({}, {.dtype = kFloat64}, &gen).item<double>() * kRowsPerTouch));
  const auto nnz = static_cast<int64_t>(rows.size());
  return sparse_coo_tensor(tensor(rows, {1, nnz}), randn({nnz, kTableWidth}, {}, &gen), {kTableRows, kTableWidth},
                           true);
}

// SparseAdam (2 state arrays) and sparse Adagrad (1); Adagrad's forloop
// (foreach=False) is the sparse op chain the default's rows kernel replaces.
void run_sparse(int repeats, const std::string& filter, int threads, const double* roofs) {
  struct Row {
    const char* optimizer;
    const char* impl;
    int states;
    Dict kwargs;
  };
  const Row rows[] = {{"SparseAdam", "default", 2, {}},
                      {"Adagrad", "default", 1, {}},
                      {"Adagrad", "forloop", 1, Dict{{"foreach", false}, {"fused", false}}}};
  for (const Row& row : rows) {
    const std::string label = std::string(row.optimizer) + "/" + row.impl + "/" + kSparseWorkload;
    if (!filter.empty() && label.find(filter) == std::string::npos) continue;
    Generator gen(7);
    Tensor table = randn({kTableRows, kTableWidth}, {}, &gen);
    table.set_grad(touched_rows_grad(gen));
    auto opt = optim::make_optimizer(row.optimizer, optim::Params{table}, row.kwargs);
    const double s = bench::median_seconds(2, repeats, [&] { opt->step(); });
    const double touched = static_cast<double>(table.grad()._values().numel());
    const double gbps = bench::optimizer_bytes(row.states) * touched / s / 1e9;
    std::printf("%-14s %-8s %-14s %3d %12.3f %9.3f %8.2f %8.2f %5.0f%%\n", row.optimizer, row.impl, kSparseWorkload,
                threads, s * 1e3, s * 1e9 / touched, gbps, roofs[row.states], 100 * gbps / roofs[row.states]);
    std::fflush(stdout);
  }
}

// Adafactor's traffic: for each param the bytes its three sweeps need
// (bench::adafactor_pattern), so the roof of a workload mixing matrices
// (factored) and vectors (unfactored) is the time both patterns would take.
struct AdafactorTraffic {
  double bytes = 0, roof_seconds = 0;
};
AdafactorTraffic adafactor_traffic(const std::vector<Shape>& shapes, double factored_gbps, double unfactored_gbps) {
  AdafactorTraffic t;
  for (const Shape& s : shapes) {
    const bool factored = s.size() > 1;
    const double numel = static_cast<double>(numel_of(s));
    // The row and column vectors: read and written by the lerp, read again
    // by the update.
    const double vectors = factored ? 12.0 * (numel / static_cast<double>(s.back()) +
                                              numel / static_cast<double>(s[s.size() - 2]))
                                    : 0.0;
    const double bytes = bench::adafactor_bytes(factored) * numel + vectors;
    t.bytes += bytes;
    t.roof_seconds += bytes / ((factored ? factored_gbps : unfactored_gbps) * 1e9);
  }
  return t;
}

std::vector<Tensor> params_with_grads(const std::vector<Shape>& shapes, int64_t& numel) {
  Generator gen(7);
  std::vector<Tensor> params;
  numel = 0;
  for (const Shape& s : shapes) {
    Tensor p = randn(s, {}, &gen);
    p.set_grad(randn(s, {}, &gen));
    numel += p.numel();
    params.push_back(p);
  }
  return params;
}

const char* const kAdafactorImpls[] = {"forloop", "foreach", "fused"};

void run_adafactor(int repeats, const std::string& filter, int threads, bench::Arrays& probe) {
  std::vector<Workload> matrices = workloads();
  matrices.pop_back();  // (c) has no matrices: nothing to factor
  auto selected = [&](const Workload& w, const char* impl) {
    return filter.empty() || (std::string("Adafactor/") + impl + "/" + w.name).find(filter) != std::string::npos;
  };
  bool any = false;
  for (const Workload& w : matrices)
    for (const char* impl : kAdafactorImpls) any = any || selected(w, impl);
  if (!any) return;
  const double factored_gbps = bench::gbps(probe, bench::adafactor_pattern<true>, bench::adafactor_bytes(true));
  const double unfactored_gbps = bench::gbps(probe, bench::adafactor_pattern<false>, bench::adafactor_bytes(false));
  for (const Workload& w : matrices) {
    for (const char* impl : kAdafactorImpls) {
      if (!selected(w, impl)) continue;
      int64_t numel = 0;
      std::vector<Tensor> params = params_with_grads(w.shapes, numel);
      const std::string i(impl);
      auto opt = optim::make_optimizer("Adafactor", optim::Params(params),
                                       Dict{{"foreach", i == "foreach"}, {"fused", i == "fused"}});
      const double s = bench::median_seconds(2, repeats, [&] { opt->step(); });
      const AdafactorTraffic t = adafactor_traffic(w.shapes, factored_gbps, unfactored_gbps);
      const double gbps = t.bytes / s / 1e9, roof = t.bytes / t.roof_seconds / 1e9;
      std::printf("%-14s %-8s %-14s %3d %12.3f %9.3f %8.2f %8.2f %5.0f%%\n", "Adafactor", impl, w.name.c_str(),
                  threads, s * 1e3, s * 1e9 / static_cast<double>(numel), gbps, roof, 100 * gbps / roof);
      std::fflush(stdout);
    }
  }
}

// Muon on 8 float32 1024x1024 matrices with the defaults (5 Newton–Schulz
// steps, each X·Xᵀ, S·S and T·X: 6n³ multiply-adds counted as 2 FLOP each;
// the pointwise parts are O(n²) and not counted). Steps take seconds, so
// at most 3 are timed after one warm-up.
constexpr int64_t kMuonMatrices = 8, kMuonSize = 1024, kMuonNsSteps = 5;
const char* const kMuonWorkload = "m:8x1024x1024";

void run_muon(int repeats, const std::string& filter, int threads) {
  if (!filter.empty() && (std::string("Muon/default/") + kMuonWorkload).find(filter) == std::string::npos) return;
  int64_t numel = 0;
  std::vector<Tensor> params =
      params_with_grads(std::vector<Shape>(kMuonMatrices, Shape{kMuonSize, kMuonSize}), numel);
  auto opt = optim::make_optimizer("Muon", optim::Params(params), Dict{});
  const double s = bench::median_seconds(1, std::min(repeats, 3), [&] { opt->step(); });
  const double n = static_cast<double>(kMuonSize);
  const double flop = static_cast<double>(kMuonMatrices * kMuonNsSteps) * 6.0 * 2.0 * n * n * n;
  std::printf("%-14s %-8s %-14s %3d %12.3f %9.3f %8.2f\n", "Muon", "default", kMuonWorkload, threads, s * 1e3,
              s * 1e9 / static_cast<double>(numel), flop / s / 1e9);
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  int repeats = argc > 1 ? std::atoi(argv[1]) : 9;
  std::string filter = argc > 2 ? argv[2] : "";
  int max_threads = std::min(2, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  bench::Arrays probe(int64_t{1} << 24);
  std::printf("optim_step: float32, median of %d steps after 2 warm-up steps\n", repeats);
  std::printf("%-14s %-8s %-14s %3s %12s %9s %8s %8s %6s\n", "optimizer", "impl", "workload", "thr", "step (ms)", "ns/elem",
              "GB/s", "roof", "%roof");
  std::printf("(Muon's rows: %-14s %3s %12s %9s %8s)\n", "workload", "thr", "step (ms)", "ns/elem", "GFLOP/s");
  for (int threads = 1; threads <= max_threads; ++threads) {
    set_num_threads(threads);
    const double roofs[] = {0, bench::gbps(probe, bench::optimizer_pattern<1>, bench::optimizer_bytes(1)),
                            bench::gbps(probe, bench::optimizer_pattern<2>, bench::optimizer_bytes(2)),
                            bench::gbps(probe, bench::optimizer_pattern<3>, bench::optimizer_bytes(3))};
    for (const auto& w : workloads())
      for (const auto& spec : optimizers())
        for (const char* impl : {"forloop", "default", "foreach", "fused"}) {
          std::string label = spec.name + "/" + impl + "/" + w.name;
          if (!filter.empty() && label.find(filter) == std::string::npos) continue;
          Generator gen(7);
          std::vector<Tensor> params;
          int64_t numel = 0;
          for (const Shape& s : w.shapes) {
            Tensor p = randn(s, {}, &gen);
            p.set_grad(randn(s, {}, &gen));
            numel += p.numel();
            params.push_back(p);
          }
          // forloop names both flags false; default names neither.
          const std::string i(impl);
          std::optional<bool> foreach, fused;
          if (i != "default") {
            foreach = i == "foreach";
            fused = i == "fused";
          }
          auto opt = spec.make(params, foreach, fused);
          double s = bench::median_seconds(2, repeats, [&] { opt->step(); });
          const double bytes = bench::optimizer_bytes(spec.states);
          double gbps = bytes * static_cast<double>(numel) / s / 1e9;
          double roof = roofs[spec.states];
          std::printf("%-14s %-8s %-14s %3d %12.3f %9.3f %8.2f %8.2f %5.0f%%\n", spec.name.c_str(), impl, w.name.c_str(),
                      threads, s * 1e3, s * 1e9 / static_cast<double>(numel), gbps, roof, 100 * gbps / roof);
          std::fflush(stdout);
        }
    run_sparse(repeats, filter, threads, roofs);
    run_adafactor(repeats, filter, threads, probe);
    run_muon(repeats, filter, threads);
  }
  return 0;
}
