// Trains one parameter with descent's Adam; exits 0 when it converged.
#include <descent/descent.h>

#include <cstdio>

int main() {
  using namespace descent;
  Tensor w = tensor({3.0, -2.0});
  optim::Adam opt({w}, {.lr = 0.1});
  for (int i = 0; i < 300; ++i) {
    w.set_grad(w.mul(2.0));  // d/dw of |w|^2
    opt.step();
  }
  double norm = w.norm().item<double>();
  std::printf("consumer: |w| after 300 Adam steps = %g\n", norm);
  return norm < 0.05 ? 0 : 1;
}
