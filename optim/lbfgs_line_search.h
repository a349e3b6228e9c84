#pragma once
// The strong Wolfe line search of LBFGS (torch.optim.lbfgs._strong_wolfe and
// _cubic_interpolate, themselves ports of torch7's lswolfe.lua and
// polyinterp.lua): bracketing by cubic extrapolation, then zoom by cubic
// interpolation with safeguards. Numbers are PyNumbers so that mixtures of
// Python floats and 0-dim tensors round as in PyTorch. Private to optim/.
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "optim/py_number.h"

namespace descent::optim::detail {

// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and
// g2, clamped to bounds (default: [min(x1, x2), max(x1, x2)]); the middle of
// the bounds when the cubic has no real minimiser.
PyNumber cubic_interpolate(const PyNumber& x1, const PyNumber& f1, const PyNumber& g1, const PyNumber& x2,
                           const PyNumber& f2, const PyNumber& g2,
                           const std::optional<std::pair<PyNumber, PyNumber>>& bounds = std::nullopt);

// f and the flat gradient at x + t·d; the params are back at x afterwards.
using DirectionalObjective =
    std::function<std::pair<double, Tensor>(const std::vector<Tensor>& x, const PyNumber& t, const Tensor& d)>;

struct LineSearchResult {
  double loss;
  Tensor flat_grad;
  PyNumber t;
  int64_t func_evals;
};

// Searches t along d from x (loss f, gradient g, directional derivative gtd)
// for the strong Wolfe conditions f(x + t d) <= f + c1 t gtd and
// |g(x + t d)·d| <= −c2 gtd, with at most max_ls evaluations after the first.
LineSearchResult strong_wolfe(const DirectionalObjective& obj, const std::vector<Tensor>& x, PyNumber t,
                              const Tensor& d, double f, const Tensor& g, const PyNumber& gtd, double c1 = 1e-4,
                              double c2 = 0.9, double tolerance_change = 1e-9, int64_t max_ls = 25);

}  // namespace descent::optim::detail
