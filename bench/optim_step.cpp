// bench/optim_step: one optimizer step, per optimizer x implementation
// (forloop, default = neither flag, foreach, fused) x
// workload x thread count, then SparseAdam and sparse Adagrad on an
// embedding table of which each step touches 1% of the rows. Prints the median step time, ns per element,
// effective GB/s and its fraction of the roof (the same traffic pattern run
// by bench/memory_probe.h, interleaved with the steps: see time_against_roof),
// and the rounds' spread (interquartile range / median of the step times).
//   ./build/bench/optim_step [repeats=9] [filter]
// filter: run only rows whose "optimizer/impl/workload" contains it.
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
// The per-element state arrays a step reads and writes (the bytes moved are
// 12 + 8 per array in float32), from the optimizer's declared state.
int state_arrays(const optim::Optimizer& opt) {
  const auto* pointwise = dynamic_cast<const optim::PointwiseOptimizer*>(&opt);
  if (pointwise == nullptr) throw std::invalid_argument(opt.name() + " declares no pointwise state");
  int arrays = 0;
  for (const auto& entry : pointwise->declared_state()) arrays += entry.like_param ? 1 : 0;
  return arrays;
}

void print_row(const std::string& optimizer, const std::string& impl, const std::string& workload, int threads,
               const bench::RoofedTiming& t, double elements, int states) {
  const double gbps = bench::optimizer_bytes(states) * elements / t.seconds / 1e9;
  std::printf("%-14s %-8s %-14s %3d %12.3f %9.3f %8.2f %8.2f %5.0f%% %5.0f%%\n", optimizer.c_str(), impl.c_str(),
              workload.c_str(), threads, t.seconds * 1e3, t.seconds * 1e9 / elements, gbps, t.roof_gbps,
              100 * gbps / t.roof_gbps, 100 * t.spread);
  std::fflush(stdout);
}

// The step's timing against the probe with the same traffic per element.
bench::RoofedTiming time_step(bench::Arrays& probe, int states, int repeats, optim::Optimizer& opt) {
  return bench::time_against_roof(probe, bench::optimizer_pattern_for(states), bench::optimizer_bytes(states), 2,
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
    const int states = std::string(row.optimizer) == "SparseAdam" ? 2 : state_arrays(*opt);
    const bench::RoofedTiming t = time_step(probe, states, repeats, *opt);
    print_row(row.optimizer, row.impl, kSparseWorkload, threads, t,
              static_cast<double>(table.grad()._values().numel()), states);
  }
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
  for (int threads = 1; threads <= max_threads; ++threads) {
    set_num_threads(threads);
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
          const int states = state_arrays(*opt);
          print_row(spec.name, impl, w.name, threads, time_step(probe, states, repeats, *opt),
                    static_cast<double>(numel), states);
        }
    run_sparse(repeats, filter, threads, probe);
  }
  return 0;
}
