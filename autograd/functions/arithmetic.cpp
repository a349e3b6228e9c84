// Backward formulas of the binary and ternary elementwise ops. Broadcast
// inputs get the full-size gradient; the engine sums it back to their shape.
// Complex inputs follow PyTorch's convention: the gradient is the conjugate
// Wirtinger derivative, hence the conj() of every multiplier.
#include <cmath>

#include "autograd/functions/formula.h"
#include "autograd/functions/functions.h"

namespace descent::autograd {

namespace {
const Tensor kNone;

std::complex<double> scalar_log(const Scalar& s, bool complex_result) {
  return complex_result || s.is_complex() ? std::log(s.to_complex())
                                          : std::complex<double>(std::log(s.to_double()));
}
Scalar as_scalar(std::complex<double> v, bool complex_result) {
  return complex_result ? Scalar(v) : Scalar(v.real());
}
}  // namespace

Tensor rdiv(const Scalar& number, const Tensor& t) { return div(full_like(t, number), t); }

Tensor record_add(Tensor out, const Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node("AddBackward0", {&a, &b});
  n->formula = [alpha](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {n.wants(0) ? g[0] : kNone, n.wants(1) ? maybe_multiply(g[0], conj_scalar(alpha)) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_sub(Tensor out, const Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node("SubBackward0", {&a, &b});
  n->formula = [alpha](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {n.wants(0) ? g[0] : kNone, n.wants(1) ? maybe_multiply(neg(g[0]), conj_scalar(alpha)) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_rsub(Tensor out, const Tensor& a) {
  if (!needs_grad(a)) return out;
  auto n = formula_node("RsubBackward1", {&a});
  n->formula = [](FormulaNode&, const tensor_list& g) -> tensor_list { return {neg(g[0])}; };
  return finish(std::move(out), n);
}

Tensor record_mul(Tensor out, const Tensor& a, const Tensor& b) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node("MulBackward0", {&a, &b});
  std::size_t sa = n->wants(1) ? n->save(a) : 0, sb = n->wants(0) ? n->save(b) : 0;
  n->formula = [sa, sb](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {n.wants(0) ? mul(g[0], conj(n.saved(sb))) : kNone,
            n.wants(1) ? mul(g[0], conj(n.saved(sa))) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_mul(Tensor out, const Tensor& a, const Scalar& b) {
  if (!needs_grad(a)) return out;
  auto n = formula_node("MulBackward0", {&a});
  n->formula = [b](FormulaNode&, const tensor_list& g) -> tensor_list { return {mul(g[0], conj_scalar(b))}; };
  return finish(std::move(out), n);
}

Tensor record_div(Tensor out, const Tensor& a, const Tensor& b) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node("DivBackward0", {&a, &b});
  std::size_t sa = n->wants(1) ? n->save(a) : 0, sb = n->save(b);
  n->formula = [sa, sb](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor other = n.saved(sb);
    Tensor ga = n.wants(0) ? div(g[0], conj(other)) : kNone;
    Tensor gb = n.wants(1) ? mul(neg(g[0]), conj(div(div(n.saved(sa), other), other))) : kNone;
    return {ga, gb};
  };
  return finish(std::move(out), n);
}

Tensor record_div(Tensor out, const Tensor& a, const Scalar& b) {
  if (!needs_grad(a)) return out;
  auto n = formula_node("DivBackward0", {&a});
  n->formula = [b](FormulaNode&, const tensor_list& g) -> tensor_list { return {div(g[0], conj_scalar(b))}; };
  return finish(std::move(out), n);
}

Tensor record_pow(Tensor out, const Tensor& base, const Scalar& exponent) {
  if (!needs_grad(base)) return out;
  auto n = formula_node("PowBackward0", {&base});
  std::size_t sb = n->save(base);
  n->formula = [sb, exponent](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor self = n.saved(sb);
    if (exponent.to_complex() == std::complex<double>(0.0)) return {zeros_like(self)};
    Scalar e = exponent.is_complex() ? Scalar(exponent.to_complex()) : Scalar(exponent.to_double());
    Scalar e_minus_1 =
        exponent.is_complex() ? Scalar(exponent.to_complex() - 1.0) : Scalar(exponent.to_double() - 1.0);
    return {mul(g[0], conj(mul(pow(self, e_minus_1), e)))};
  };
  return finish(std::move(out), n);
}

Tensor record_pow(Tensor out, const Tensor& base, const Tensor& exponent) {
  if (!needs_grad(base, exponent)) return out;
  auto n = formula_node("PowBackward1", {&base, &exponent});
  std::size_t sb = n->save(base), se = n->save(exponent);
  set_history(out, n);
  std::size_t sr = n->wants(1) ? n->save(out, true) : 0;
  n->formula = [sb, se, sr](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor self = n.saved(sb), e = n.saved(se);
    Tensor gb, ge;
    if (n.wants(0))
      gb = where(e.eq(Scalar(0.0)), Scalar(0), mul(g[0], conj(mul(e, pow(self, sub(e, Scalar(1)))))));
    if (n.wants(1)) {
      Tensor cond = e.is_complex()
                        ? logical_and(self.eq(Scalar(0)), logical_and(imag(e).eq(Scalar(0)), real(e).ge(0)))
                        : logical_and(self.eq(Scalar(0)), e.ge(0));
      Tensor self_promoted = self.to(result_type(self, e));
      ge = mul(g[0], where(cond, Scalar(0), conj(mul(n.saved(sr), log(self_promoted)))));
    }
    return {gb, ge};
  };
  return out;
}

Tensor record_pow(Tensor out, const Scalar& base, const Tensor& exponent) {
  if (!needs_grad(exponent)) return out;
  auto n = formula_node("PowBackward2", {&exponent});
  // 0 ** e has derivative 0 (not 0 * log(0)) where e >= 0.
  bool zero_base = base.to_complex() == std::complex<double>(0.0);
  std::size_t se = zero_base ? n->save(exponent) : 0;
  set_history(out, n);
  std::size_t sr = n->save(out, true);
  n->formula = [sr, se, base, zero_base](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor result = n.saved(sr);
    bool complex_result = result.is_complex();
    Tensor d = conj(mul(result, as_scalar(scalar_log(base, complex_result), complex_result)));
    if (zero_base) {
      Tensor e = n.saved(se);
      Tensor cond = e.is_complex() ? logical_and(imag(e).eq(Scalar(0)), real(e).ge(0)) : e.ge(0);
      d = where(cond, Scalar(0), d);
    }
    return {mul(g[0], d)};
  };
  return out;
}

Tensor record_maximum(Tensor out, const Tensor& a, const Tensor& b) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node("MaximumBackward0", {&a, &b});
  std::size_t sa = n->save(a), sb = n->save(b);
  n->formula = [sa, sb](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor x = n.saved(sa), y = n.saved(sb);
    Tensor shared = where(eq(x, y), div(g[0], Scalar(2)), g[0]);
    return {n.wants(0) ? where(lt(x, y), Scalar(0), shared) : kNone,
            n.wants(1) ? where(gt(x, y), Scalar(0), shared) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_minimum(Tensor out, const Tensor& a, const Tensor& b) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node("MinimumBackward0", {&a, &b});
  std::size_t sa = n->save(a), sb = n->save(b);
  n->formula = [sa, sb](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor x = n.saved(sa), y = n.saved(sb);
    Tensor shared = where(eq(x, y), div(g[0], Scalar(2)), g[0]);
    return {n.wants(0) ? where(gt(x, y), Scalar(0), shared) : kNone,
            n.wants(1) ? where(lt(x, y), Scalar(0), shared) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_atan2(Tensor out, const Tensor& a, const Tensor& b) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node("Atan2Backward0", {&a, &b});
  std::size_t sa = n->save(a), sb = n->save(b);
  n->formula = [sa, sb](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor x = n.saved(sa), y = n.saved(sb);
    Tensor recip = reciprocal(add(mul(x, x), mul(y, y)));
    return {n.wants(0) ? mul(mul(g[0], y), recip) : kNone,
            n.wants(1) ? mul(mul(g[0], neg(x)), recip) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_clamp(Tensor out, const Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max) {
  if (!needs_grad(t)) return out;
  auto n = formula_node("ClampBackward1", {&t});
  std::size_t st = n->save(t);
  n->formula = [st, min, max](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor self = n.saved(st);
    Tensor inside =
        min && max ? logical_and(self.ge(*min), self.le(*max)) : (min ? self.ge(*min) : self.le(*max));
    return {where(inside, g[0], Scalar(0))};
  };
  return finish(std::move(out), n);
}

Tensor record_clamp(Tensor out, const Tensor& t, const std::optional<Tensor>& min,
                    const std::optional<Tensor>& max) {
  if (!needs_grad(t, min, max)) return out;
  Tensor lo = min.value_or(Tensor()), hi = max.value_or(Tensor());
  auto n = formula_node("ClampBackward0", {&t, &lo, &hi});
  std::size_t st = n->save(t), slo = n->save(lo), shi = n->save(hi);
  n->formula = [st, slo, shi](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor self = n.saved(st), lo = n.saved(slo), hi = n.saved(shi);
    Tensor gt_, glo, ghi;
    if (n.wants(0)) {
      Tensor inside = lo.defined() && hi.defined() ? logical_and(ge(self, lo), le(self, hi))
                                                   : (lo.defined() ? ge(self, lo) : le(self, hi));
      gt_ = where(inside, g[0], Scalar(0));
    }
    if (n.wants(1)) {
      Tensor below = hi.defined() ? logical_and(lt(self, lo), lt(lo, hi)) : lt(self, lo);
      glo = where(below, g[0], Scalar(0));
    }
    if (n.wants(2)) {
      Tensor above = lo.defined() ? logical_or(gt(self, hi), lt(hi, lo)) : gt(self, hi);
      ghi = where(above, g[0], Scalar(0));
    }
    return {gt_, glo, ghi};
  };
  return finish(std::move(out), n);
}

Tensor record_where(Tensor out, const Tensor& condition, const Tensor& a, const Tensor& b) {
  if (!needs_grad(a, b)) return out;
  auto n = formula_node("WhereBackward0", {&condition, &a, &b});
  std::size_t sc = n->save(condition);
  n->formula = [sc](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor c = n.saved(sc);
    return {kNone, n.wants(1) ? where(c, g[0], Scalar(0)) : kNone,
            n.wants(2) ? where(c, Scalar(0), g[0]) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_lerp(Tensor out, const Tensor& start, const Tensor& end, const Scalar& weight) {
  if (!needs_grad(start, end)) return out;
  auto n = formula_node("LerpBackward0", {&start, &end});
  n->formula = [weight](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Scalar one_minus =
        weight.is_complex() ? Scalar(std::conj(1.0 - weight.to_complex())) : Scalar(1.0 - weight.to_double());
    return {n.wants(0) ? mul(g[0], one_minus) : kNone, n.wants(1) ? mul(g[0], conj_scalar(weight)) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_lerp(Tensor out, const Tensor& start, const Tensor& end, const Tensor& weight) {
  if (!needs_grad(start, end, weight)) return out;
  auto n = formula_node("LerpBackward1", {&start, &end, &weight});
  std::size_t ss = n->wants(2) ? n->save(start) : 0, se = n->wants(2) ? n->save(end) : 0,
              sw = n->save(weight);
  n->formula = [ss, se, sw](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor w = n.saved(sw);
    return {n.wants(0) ? mul(g[0], conj(Scalar(1) - w)) : kNone, n.wants(1) ? mul(g[0], conj(w)) : kNone,
            n.wants(2) ? mul(g[0], conj(sub(n.saved(se), n.saved(ss)))) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_addcmul(Tensor out, const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  if (!needs_grad(t, t1, t2)) return out;
  auto n = formula_node("AddcmulBackward0", {&t, &t1, &t2});
  std::size_t s1 = n->wants(2) ? n->save(t1) : 0, s2 = n->wants(1) ? n->save(t2) : 0;
  n->formula = [s1, s2, value](FormulaNode& n, const tensor_list& g) -> tensor_list {
    return {n.wants(0) ? g[0] : kNone, n.wants(1) ? mul(g[0], conj(mul(n.saved(s2), value))) : kNone,
            n.wants(2) ? mul(g[0], conj(mul(n.saved(s1), value))) : kNone};
  };
  return finish(std::move(out), n);
}

Tensor record_addcdiv(Tensor out, const Tensor& t, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  if (!needs_grad(t, t1, t2)) return out;
  auto n = formula_node("AddcdivBackward0", {&t, &t1, &t2});
  std::size_t s1 = n->wants(2) ? n->save(t1) : 0, s2 = n->save(t2);
  n->formula = [s1, s2, value](FormulaNode& n, const tensor_list& g) -> tensor_list {
    Tensor y = n.saved(s2);
    Tensor g1 = n.wants(1) ? mul(g[0], conj(rdiv(value, y))) : kNone;
    Tensor g2 = n.wants(2) ? mul(neg(g[0]), conj(div(mul(n.saved(s1), value), mul(y, y)))) : kNone;
    return {n.wants(0) ? g[0] : kNone, g1, g2};
  };
  return finish(std::move(out), n);
}

}  // namespace descent::autograd
