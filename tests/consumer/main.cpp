// A user's program: includes only descent/descent.h, builds with -Wall
// -Wextra -Werror, trains a small model with options set by chainable
// setters, and reads numbers back as a PyTorch user would. Exits 0 when it
// converged.
#include <descent/descent.h>

#include <cstdio>

int main() {
  using namespace descent;
  Generator gen(0);
  Tensor x = randn({64, 3}, {}, &gen);
  Tensor y = sin(x.sum({1}, true));
  nn::Sequential model(nn::Linear(3, 16), nn::LayerNorm(16), nn::GELU(), nn::Dropout(0.0), nn::Linear(16, 1));
  optim::AdamW opt(model.parameters(), optim::Options<optim::AdamWOptions>().lr(0.05).weight_decay(0.0));
  double first = 0, last = 0;
  for (int i = 0; i < 200; ++i) {
    Tensor batch = randperm(64, {}, &gen).narrow(0, 0, 32);
    opt.zero_grad();
    Tensor loss = nn::functional::mse_loss(model(index_select(x, 0, batch)), index_select(y, 0, batch));
    loss.backward();
    opt.step();
    last = loss.item();
    if (i == 0) first = last;
  }
  double lr = opt.param_groups()[0]["lr"];
  std::printf("consumer: AdamW(lr=%g) loss %.4f -> %.4f in 200 steps\n", lr, first, last);
  return last < 0.1 * first ? 0 : 1;
}
