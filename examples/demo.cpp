// The main demo: what the tensor core does, in a few lines.
#include <iostream>

#include "descent/descent.h"

namespace {
// sin via its Taylor series, with tensor ops only.
descent::Tensor sin_approx(const descent::Tensor& x) {
  descent::Tensor x2 = x * x;
  return x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0))));
}
}  // namespace

int main() {
  using namespace descent;
  manual_seed(0);
  Tensor a = arange(6, {.dtype = kFloat32}).reshape({2, 3});
  Tensor b = tensor({10.0f, 20.0f, 30.0f});
  std::cout << "a =\n" << a << "\n";
  std::cout << "a + b (broadcast) =\n" << a + b << "\n";
  std::cout << "a.sum(dim=1) = " << a.sum({1}) << "\n";
  std::cout << "a @ a.t() =\n" << a.matmul(a.t()) << "\n";
  std::cout << "float16: " << full({3}, 1.0 / 3.0, {.dtype = kFloat16}) << "\n";
  Tensor z = tensor({std::complex<float>(1, 2), std::complex<float>(3, -4)});
  std::cout << "complex: " << z << ", abs " << z.abs() << ", view_as_real\n" << view_as_real(z) << "\n";
  Tensor s = sparse_coo_tensor(tensor(std::vector<int64_t>{0, 2, 0}, {1, 3}), tensor({1.0f, 2.0f, 3.0f}), {4});
  std::cout << "sparse coalesced: " << s.coalesce().to_dense() << "\n";
  std::cout << "randn: " << randn({4}) << "\n";

  // Training: fit y = sin(x) with a small MLP, AdamW and a cosine schedule.
  Generator gen(1);
  Tensor x = linspace(-3, 3, 64).reshape({64, 1});
  Tensor y = sin_approx(x);
  nn::Sequential model(nn::Linear(1, 32), nn::Tanh(), nn::Linear(32, 1));
  optim::AdamW opt(model.parameters(), {.lr = 0.05, .fused = true});
  optim::lr::CosineAnnealingLR schedule(opt, 200);
  nn::MSELoss mse;
  for (int epoch = 0; epoch <= 200; ++epoch) {
    opt.zero_grad();
    Tensor loss = mse.forward(model.forward(x), y);
    loss.backward();
    opt.step();
    schedule.step();
    if (epoch % 50 == 0)
      std::cout << "epoch " << epoch << "  loss " << loss.item<double>() << "  lr " << schedule.get_last_lr()[0].to_double() << "\n";
  }
  save(opt.state_dict(), "demo_optimizer.ckpt");
  std::cout << "optimizer state saved to demo_optimizer.ckpt\n";
  return 0;
}
