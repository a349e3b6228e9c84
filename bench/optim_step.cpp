// bench/optim_step: one optimizer step, per optimizer x implementation
// (forloop, default = neither flag, foreach, fused) x
// workload x thread count, then SparseAdam and sparse Adagrad on an
// embedding table of which each step touches 1% of the rows, then Adafactor
// on workloads (a) and (b), and Muon on a stack of 1024x1024 matrices. Prints
// the median step time, ns per element, effective GB/s and its fraction of
// the roof (the same traffic pattern run by bench/memory_probe.h, interleaved
// with the steps: see time_against_roof), and the rounds' spread
// (interquartile range / median of the step times); Muon's rows print
// GFLOP/s instead, as its step is the Newton–Schulz matmuls.
//   ./build/bench/optim_step [repeats=9] [filter]
// filter: run only rows whose "optimizer/impl/workload" contains it.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
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
  std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>, std::optional<bool>, std::optional<bool>)> make;
};

// An optimizer built by name with these options plus the implementation flags.
OptimizerSpec by_name(std::string label, const std::string& name, Dict options = {}) {
  return {std::move(label),
          [name, options](std::vector<Tensor> p, std::optional<bool> foreach, std::optional<bool> fused) {
            Dict kwargs = options;
            kwargs.set("foreach", foreach ? Value(*foreach) : Value());
            kwargs.set("fused", fused ? Value(*fused) : Value());
            return optim::make_optimizer(name, optim::Params(std::move(p)), kwargs);
          }};
}

std::vector<OptimizerSpec> optimizers() {
  return {by_name("SGD(momentum)", "SGD", Dict{{"lr", 1e-3}, {"momentum", 0.9}}),
          by_name("Adam", "Adam"),
          by_name("AdamW", "AdamW"),
          by_name("Adadelta", "Adadelta"),
          by_name("Adagrad", "Adagrad"),
          by_name("Adamax", "Adamax"),
          by_name("ASGD", "ASGD"),
          by_name("NAdam", "NAdam"),
          by_name("RAdam", "RAdam"),
          by_name("RMSprop", "RMSprop"),
          by_name("RMSprop(c,m)", "RMSprop", Dict{{"momentum", 0.9}, {"centered", true}}),
          by_name("Rprop", "Rprop")};
}
// The float32 state elements a step reads and writes per param element (the
// bytes moved are 12 + 8 per state element), from the shapes each param's
// declared state has. The one-element scalars (step counters, ASGD's eta) are
// per param, not per element, and left out.
double state_per_element(const optim::Optimizer& opt) {
  const auto* pointwise = dynamic_cast<const optim::PointwiseOptimizer*>(&opt);
  if (pointwise == nullptr) throw std::invalid_argument(opt.name() + " declares no pointwise state");
  double state = 0, elements = 0;
  for (const optim::ParamGroup& group : opt.param_groups())
    for (const Tensor& param : group.params) {
      elements += static_cast<double>(param.numel());
      for (const auto& entry : pointwise->declared_state(param))
        if (entry.shape != optim::StateShape::Scalar)
          state += static_cast<double>(numel_of(optim::state_shape(entry.shape, param.sizes())));
    }
  return state / elements;
}

void print_row(const std::string& optimizer, const std::string& impl, const std::string& workload, int threads,
               const bench::RoofedTiming& t, double elements, double bytes) {
  const double gbps = bytes / t.seconds / 1e9;
  std::printf("%-14s %-8s %-14s %3d %12.3f %9.3f %8.2f %8.2f %5.0f%% %5.0f%%\n", optimizer.c_str(), impl.c_str(),
              workload.c_str(), threads, t.seconds * 1e3, t.seconds * 1e9 / elements, gbps, t.roof_gbps,
              100 * gbps / t.roof_gbps, 100 * t.spread);
  std::fflush(stdout);
}

// The step's timing against the probe with the same traffic per element
// (its state arrays: the state elements per param element, rounded).
bench::RoofedTiming time_step(bench::Arrays& probe, double states, int repeats, optim::Optimizer& opt) {
  const int arrays = static_cast<int>(std::lround(states));
  const bench::Pattern pattern = bench::optimizer_pattern_for(arrays);
  return bench::time_against_roof([&] { return bench::gbps_once(probe, pattern, bench::optimizer_bytes(arrays)); }, 2,
                                  repeats, [&] { opt.step(); });
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

// SparseAdam (exp_avg and exp_avg_sq: it declares no pointwise state) and
// sparse Adagrad (its declared sum); Adagrad's forloop
// (foreach=False) is the sparse op chain the default's rows kernel replaces.
void run_sparse(int repeats, const std::string& filter, int threads, bench::Arrays& probe) {
  struct Row {
    const char* optimizer;
    const char* impl;
    Dict kwargs;
  };
  const Row rows[] = {{"SparseAdam", "default", {}},
                      {"Adagrad", "default", {}},
                      {"Adagrad", "forloop", Dict{{"foreach", false}, {"fused", false}}}};
  for (const Row& row : rows) {
    const std::string label = std::string(row.optimizer) + "/" + row.impl + "/" + kSparseWorkload;
    if (!filter.empty() && label.find(filter) == std::string::npos) continue;
    Generator gen(7);
    Tensor table = randn({kTableRows, kTableWidth}, {}, &gen);
    table.set_grad(touched_rows_grad(gen));
    auto opt = optim::make_optimizer(row.optimizer, optim::Params{table}, row.kwargs);
    const double states = std::string(row.optimizer) == "SparseAdam" ? 2 : state_per_element(*opt);
    const bench::RoofedTiming t = time_step(probe, states, repeats, *opt);
    const double touched = static_cast<double>(table.grad()._values().numel());
    print_row(row.optimizer, row.impl, kSparseWorkload, threads, t, touched, bench::optimizer_bytes(states) * touched);
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
  for (const Workload& w : matrices) {
    // One round of the roof: both patterns once, weighted by the workload's
    // matrices and vectors.
    auto roof = [&] {
      const double factored = bench::gbps_once(probe, bench::adafactor_pattern<true>, bench::adafactor_bytes(true));
      const double unfactored =
          bench::gbps_once(probe, bench::adafactor_pattern<false>, bench::adafactor_bytes(false));
      const AdafactorTraffic t = adafactor_traffic(w.shapes, factored, unfactored);
      return t.bytes / t.roof_seconds / 1e9;
    };
    for (const char* impl : kAdafactorImpls) {
      if (!selected(w, impl)) continue;
      int64_t numel = 0;
      std::vector<Tensor> params = params_with_grads(w.shapes, numel);
      const std::string i(impl);
      auto opt = optim::make_optimizer("Adafactor", optim::Params(params),
                                       Dict{{"foreach", i == "foreach"}, {"fused", i == "fused"}});
      const bench::RoofedTiming t = bench::time_against_roof(roof, 2, repeats, [&] { opt->step(); });
      print_row("Adafactor", impl, w.name, threads, t, static_cast<double>(numel),
                adafactor_traffic(w.shapes, 1, 1).bytes);
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
  std::printf("optim_step: float32, median of %d rounds after 2 warm-up steps\n", repeats);
  std::printf("%-14s %-8s %-14s %3s %12s %9s %8s %8s %6s %6s\n", "optimizer", "impl", "workload", "thr", "step (ms)",
              "ns/elem", "GB/s", "roof", "%roof", "spread");
  std::printf("(Muon's rows: %-14s %3s %12s %9s %8s)\n", "workload", "thr", "step (ms)", "ns/elem", "GFLOP/s");
  for (int threads = 1; threads <= max_threads; ++threads) {
    set_num_threads(threads);
    for (const auto& w : workloads())
      for (const auto& spec : optimizers())
        for (const char* impl : {"forloop", "default", "foreach", "fused"}) {
          std::string label = spec.name + "/" + impl + "/" + w.name;
          if (!filter.empty() && label.find(filter) == std::string::npos) continue;
          int64_t numel = 0;
          std::vector<Tensor> params = params_with_grads(w.shapes, numel);
          // forloop names both flags false; default names neither.
          const std::string i(impl);
          std::optional<bool> foreach, fused;
          if (i != "default") {
            foreach = i == "foreach";
            fused = i == "fused";
          }
          auto opt = spec.make(params, foreach, fused);
          const double states = state_per_element(*opt);
          print_row(spec.name, impl, w.name, threads, time_step(probe, states, repeats, *opt),
                    static_cast<double>(numel), bench::optimizer_bytes(states) * static_cast<double>(numel));
        }
    run_sparse(repeats, filter, threads, probe);
    run_adafactor(repeats, filter, threads, probe);
    run_muon(repeats, filter, threads);
  }
  return 0;
}
