#include "optim/lbfgs_line_search.h"

#include "descent/error.h"

namespace descent::optim::detail {

PyNumber cubic_interpolate(const PyNumber& x1, const PyNumber& f1, const PyNumber& g1, const PyNumber& x2,
                           const PyNumber& f2, const PyNumber& g2,
                           const std::optional<std::pair<PyNumber, PyNumber>>& bounds) {
  const auto [xmin_bound, xmax_bound] = bounds ? *bounds : (x1 <= x2 ? std::pair(x1, x2) : std::pair(x2, x1));
  // With x2 the farthest point: d1 = g1 + g2 − 3 (f1 − f2)/(x1 − x2),
  // d2 = sqrt(d1² − g1 g2), min = x2 − (x2 − x1)(g2 + d2 − d1)/(g2 − g1 + 2 d2).
  const PyNumber d1 = g1 + g2 - PyNumber(3) * (f1 - f2) / (x1 - x2);
  const PyNumber d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= PyNumber(0)) {
    const PyNumber d2 = sqrt(d2_square);
    const PyNumber min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + PyNumber(2) * d2))
                                      : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + PyNumber(2) * d2));
    return py_min(py_max(min_pos, xmin_bound), xmax_bound);
  }
  return (xmin_bound + xmax_bound) / PyNumber(2.0);
}

namespace {
// One end of the bracket: step, loss, flat gradient, directional derivative.
struct Point {
  PyNumber t;
  PyNumber f;
  Tensor g;
  PyNumber gtd;
};
}  // namespace

LineSearchResult strong_wolfe(const DirectionalObjective& obj, const std::vector<Tensor>& x, PyNumber t,
                              const Tensor& d, double f0, const Tensor& g0, const PyNumber& gtd, double c1,
                              double c2, double tolerance_change, int64_t max_ls) {
  const PyNumber f(f0), c1_(c1), minus_c2_gtd = PyNumber(-c2) * gtd;
  const PyNumber d_norm(d.abs().max());
  const Tensor g = g0.clone();
  // Armijo: sufficient decrease relative to the start.
  auto armijo_fails = [&](const PyNumber& f_new, const PyNumber& step) { return f_new > f + c1_ * step * gtd; };

  auto [loss, g_new] = obj(x, t, d);
  PyNumber f_new(loss);
  int64_t evals = 1;
  PyNumber gtd_new(g_new.dot(d));

  // Bracketing: extrapolate until an interval containing a point satisfying
  // the conditions is known (or the point itself is found).
  Point prev{PyNumber(0), f, g, gtd};
  std::vector<Point> bracket;
  bool done = false;
  int64_t ls_iter = 0;
  while (ls_iter < max_ls) {
    if (armijo_fails(f_new, t) || (ls_iter > 1 && f_new >= prev.f)) {
      bracket = {prev, {t, f_new, g_new.clone(), gtd_new}};
      break;
    }
    if (abs(gtd_new) <= minus_c2_gtd) {
      bracket = {{t, f_new, g_new, gtd_new}};
      done = true;
      break;
    }
    if (gtd_new >= PyNumber(0)) {
      bracket = {prev, {t, f_new, g_new.clone(), gtd_new}};
      break;
    }
    const PyNumber min_step = t + PyNumber(0.01) * (t - prev.t);
    const PyNumber max_step = t * PyNumber(10);
    const PyNumber next = cubic_interpolate(prev.t, prev.f, prev.gtd, t, f_new, gtd_new, std::pair(min_step, max_step));
    prev = {t, f_new, g_new.clone(), gtd_new};
    t = next;
    std::tie(loss, g_new) = obj(x, t, d);
    f_new = PyNumber(loss);
    ++evals;
    gtd_new = PyNumber(g_new.dot(d));
    ++ls_iter;
  }
  // Out of evaluations: the bracket is the start and the last point (their
  // slopes are not needed: no zoom iteration follows).
  if (ls_iter == max_ls) bracket = {{PyNumber(0), f, g, PyNumber(0)}, {t, f_new, g_new, PyNumber(0)}};
  // PyTorch fails here with an unbound variable; say why instead.
  if (bracket.empty())
    raise<RuntimeError>("LBFGS: the strong_wolfe line search has no evaluation left (max_ls = ", max_ls,
                        "; max_eval must exceed the evaluations already made in this step)");

  // Zoom: shrink the bracket until a point satisfies the conditions.
  bool insufficient_progress = false;
  std::size_t low = bracket.front().f <= bracket.back().f ? 0 : 1, high = 1 - low;
  while (!done && ls_iter < max_ls) {
    Point& b0 = bracket[0];
    Point& b1 = bracket[1];
    if (abs(b1.t - b0.t) * d_norm < PyNumber(tolerance_change)) break;
    t = cubic_interpolate(b0.t, b0.f, b0.gtd, b1.t, b1.f, b1.gtd);
    // A trial point within 10% of the bracket's length from an end makes
    // little progress: after two such points in a row, or at an end itself,
    // move it to 10% away from the nearest end.
    const PyNumber bmax = py_max(b0.t, b1.t), bmin = py_min(b0.t, b1.t);
    const PyNumber eps = PyNumber(0.1) * (bmax - bmin);
    if (py_min(bmax - t, t - bmin) < eps) {
      if (insufficient_progress || t >= bmax || t <= bmin) {
        t = abs(t - bmax) < abs(t - bmin) ? bmax - eps : bmin + eps;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    std::tie(loss, g_new) = obj(x, t, d);
    f_new = PyNumber(loss);
    ++evals;
    gtd_new = PyNumber(g_new.dot(d));
    ++ls_iter;
    if (armijo_fails(f_new, t) || f_new >= bracket[low].f) {
      // Not lower than the low end: the new point closes the bracket.
      bracket[high] = {t, f_new, g_new.clone(), gtd_new};
      low = bracket[0].f <= bracket[1].f ? 0 : 1;
      high = 1 - low;
    } else {
      if (abs(gtd_new) <= minus_c2_gtd) {
        done = true;
      } else if (gtd_new * (bracket[high].t - bracket[low].t) >= PyNumber(0)) {
        // The old high end becomes the new low end.
        bracket[high] = bracket[low];
      }
      bracket[low] = {t, f_new, g_new.clone(), gtd_new};
    }
  }
  const Point& best = bracket[low];
  return {best.f.to_double(), best.g, best.t, evals};
}

}  // namespace descent::optim::detail
