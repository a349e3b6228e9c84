// The main demo: what the tensor core does, in a few lines.
#include <iostream>

#include "descent/descent.h"

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
  return 0;
}
