// bench/train_step: one training step of an MLP (Linear + ReLU layers,
// cross-entropy, fused Adam), split into forward, backward and optimizer
// (zero_grad + step) times, per model and thread count.
//   ./build/bench/train_step [repeats=15] [rounds=1] [filter]
// Each round prints, per model and thread count, the medians over `repeats`
// steps; bench/compare_torch.py --train alternates rounds of this binary
// with rounds of the same steps in PyTorch, so both see the same machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "descent/descent.h"

using namespace descent;

namespace {
struct Model {
  std::string name;
  std::vector<int64_t> widths;  // input, hidden..., classes
  int64_t batch;
};

std::vector<Model> models() {
  return {{"mlp:784-512-512-10/b64", {784, 512, 512, 10}, 64},
          {"wide:4096-4096-4096/b256", {4096, 4096, 4096}, 256}};
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void run(const Model& m, int threads, int repeats) {
  set_num_threads(threads);
  manual_seed(0);
  nn::Sequential net;
  for (std::size_t i = 0; i + 1 < m.widths.size(); ++i) {
    net.push_back(nn::Linear(m.widths[i], m.widths[i + 1]));
    if (i + 2 < m.widths.size()) net.push_back(nn::ReLU());
  }
  Dict kwargs{{"lr", 1e-3}};
  kwargs.set("fused", Value(true));
  auto opt = optim::make_optimizer("Adam", net.parameters(), kwargs);
  Tensor x = randn({m.batch, m.widths.front()});
  Tensor y = randint(0, m.widths.back(), {m.batch});
  std::vector<double> fwd, bwd, step, total;
  for (int r = -2; r < repeats; ++r) {  // two warm-up steps allocate the optimizer state
    const double t0 = now_ms();
    Tensor loss = nn::functional::cross_entropy(net.forward(x), y);
    const double t1 = now_ms();
    loss.backward();
    const double t2 = now_ms();
    opt->step();
    opt->zero_grad();
    const double t3 = now_ms();
    if (r < 0) continue;
    fwd.push_back(t1 - t0);
    bwd.push_back(t2 - t1);
    step.push_back(t3 - t2);
    total.push_back(t3 - t0);
  }
  std::printf("%-26s %3d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", m.name.c_str(), threads, median(fwd), median(bwd),
              median(step), median(total), *std::min_element(total.begin(), total.end()),
              *std::max_element(total.begin(), total.end()));
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 15;
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
  const std::string filter = argc > 3 ? argv[3] : "";
  std::printf("%-26s %3s %9s %9s %9s %9s %9s %9s\n", "model", "thr", "fwd_ms", "bwd_ms", "optim_ms", "total_ms",
              "min_ms", "max_ms");
  for (int round = 0; round < rounds; ++round)
    for (const Model& m : models()) {
      if (!filter.empty() && m.name.find(filter) == std::string::npos) continue;
      for (int threads : {1, 2}) run(m, threads, repeats);
    }
  return 0;
}
