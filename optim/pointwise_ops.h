#pragma once
// The primitives of devices/optim_math/primitives.h for whole tensors (the
// forloop; autograd records them under differentiable=True) and for tensor
// lists (foreach: each op runs over the whole list before the next one, as
// torch._foreach_* does). Out-of-place ops on tensors are descent's own free
// functions, found by argument-dependent lookup; this file adds the in-place
// forms and the list forms. A list op's scalar is either one number for
// every tensor or a per-tensor list (the host scalars that depend on each
// tensor's step).
#include <utility>
#include <vector>

#include "descent/tensor/foreach.h"
#include "descent/tensor/ops.h"

namespace descent::optim::detail {

using ScalarList = std::vector<double>;

inline double scalar_at(double s, std::size_t) { return s; }
inline double scalar_at(const ScalarList& s, std::size_t i) { return s[i]; }

}  // namespace descent::optim::detail

namespace descent {

// ---- in-place forms on one tensor ----
inline void add_(Tensor& a, const Tensor& b, double alpha) { a.add_(b, alpha); }
inline void add_(Tensor& a, const Tensor& b) { a.add_(b); }
inline void add_(Tensor& a, double b) { a.add_(b); }
inline void sub_(Tensor& a, const Tensor& b) { a.sub_(b); }
inline void mul_(Tensor& a, double b) { a.mul_(b); }
inline void mul_(Tensor& a, const Tensor& b) { a.mul_(b); }
inline void div_(Tensor& a, double b) { a.div_(b); }
inline void div_(Tensor& a, const Tensor& b) { a.div_(b); }
inline void neg_(Tensor& a) { a.neg_(); }
inline void sqrt_(Tensor& a) { a.sqrt_(); }
inline void clamp_(Tensor& a, double lo, double hi) { a.clamp_(lo, hi); }
inline void addcmul_(Tensor& a, const Tensor& b, const Tensor& c, double value) { a.addcmul_(b, c, value); }
inline void addcdiv_(Tensor& a, const Tensor& b, const Tensor& c, double value) { a.addcdiv_(b, c, value); }
inline void lerp_(Tensor& a, const Tensor& b, double w) { a.lerp_(b, w); }
inline void copy_(Tensor& a, const Tensor& b) { a.copy_(b); }
// torch.maximum(a, b, out=a). Under autograd maximum() keeps its inputs for
// backward: it gets copies, so that neither the overwrite of `a` nor a later
// in-place update of `b` invalidates them.
inline void maximum_(Tensor& a, const Tensor& b) {
  if (a.requires_grad() || b.requires_grad())
    a.copy_(maximum(a.clone(), b.clone()));
  else
    a.copy_(maximum(a, b));
}
// a[mask] = value, through where: its gradient flows to `a` where mask is false.
inline void masked_fill_(Tensor& a, const Tensor& mask, double value) { a.copy_(where(mask, value, a)); }
inline Tensor tracked_copy(const Tensor& a) { return a.requires_grad() ? a.clone() : a; }
inline Tensor detach(const Tensor& a) { return a.detach(); }
inline Tensor gt(const Tensor& a, double b) { return a.gt(b); }
inline Tensor lt(const Tensor& a, double b) { return a.lt(b); }
inline Tensor eq(const Tensor& a, double b) { return a.eq(b); }
inline Tensor add(const Tensor& a, double b) { return a.add(b); }
inline Tensor clamp(const Tensor& a, double lo, double hi) { return a.clamp(lo, hi); }

// ---- tensor lists ----
// An out-of-place list op takes its first list by value. A tensor of it that
// nothing else holds (no other handle, no view, nothing autograd saved) is a
// fresh result of an earlier list op that the caller gave up: the op writes
// it in place instead of allocating, as PyTorch's foreach code reuses its
// intermediates. Any other tensor (a param, grad or state tensor, what
// detach or tracked_copy returns, a named list the caller still holds) is
// left as it is and the result allocated.
namespace detail_list {
template <class Fn>
TensorList map(std::size_t n, Fn&& fn) {
  TensorList out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(fn(i));
  return out;
}

inline bool held_only_here(const Tensor& t) {
  return t.impl().use_count() == 1 && t.storage().use_count() == 1;
}

// Whether the op's out-of-place result on (t, args...) has t's dtype and
// shape, so that writing it into t loses nothing: a float32 intermediate
// added to a float64 tensor, or one that an operand broadcasts to a bigger
// shape, gets a fresh result as it would without the reuse.
inline bool result_fits(const Tensor& t) { return t.is_floating_point() || t.is_complex(); }
inline bool result_fits_operand(const Tensor& t, double s) { return result_type(t, Scalar(s)) == t.dtype(); }
inline bool result_fits_operand(const Tensor& t, const Tensor& b) {
  if (result_type(t, b) != t.dtype() || b.dim() > t.dim()) return false;
  const Shape& ts = t.shape();
  const Shape& bs = b.shape();
  const std::size_t lead = ts.size() - bs.size();
  for (std::size_t d = 0; d < bs.size(); ++d)
    if (bs[d] != 1 && bs[d] != ts[lead + d]) return false;
  return true;
}
template <class... Operands>
bool result_fits(const Tensor& t, const Operands&... operands) {
  return result_fits(t) && (result_fits_operand(t, operands) && ...);
}

// fits(t, i) says whether the i-th result may be written into t (above);
// in_place(t, i) updates the i-th tensor; out_of_place(t, i) returns the result.
template <class Fits, class InPlace, class OutOfPlace>
TensorList reuse_or_map(TensorList a, Fits&& fits, InPlace&& in_place, OutOfPlace&& out_of_place) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (held_only_here(a[i]) && fits(a[i], i))
      in_place(a[i], i);
    else
      a[i] = out_of_place(a[i], i);
  }
  return a;
}
}  // namespace detail_list

using optim::detail::scalar_at;

// The out-of-place list op `method` over (a, args...), a's tensors reused as
// above: `method_` in place, `method` out of place, on each tensor.
#define DESCENT_LIST_OP(method, ...)                                                  \
  detail_list::reuse_or_map(                                                          \
      std::move(a),                                                                   \
      [&](const Tensor& t, [[maybe_unused]] std::size_t i) {                          \
        return detail_list::result_fits(t __VA_OPT__(, ) __VA_ARGS__);                \
      },                                                                              \
      [&](Tensor& t, [[maybe_unused]] std::size_t i) { t.method##_(__VA_ARGS__); },   \
      [&](const Tensor& t, [[maybe_unused]] std::size_t i) { return t.method(__VA_ARGS__); })

template <class S>
TensorList add(TensorList a, const TensorList& b, const S& alpha) {
  return DESCENT_LIST_OP(add, b[i], scalar_at(alpha, i));
}
inline TensorList add(TensorList a, const TensorList& b) { return DESCENT_LIST_OP(add, b[i]); }
template <class S>
TensorList add(TensorList a, const S& b) {
  return DESCENT_LIST_OP(add, scalar_at(b, i));
}
inline TensorList sub(TensorList a, const TensorList& b) { return DESCENT_LIST_OP(sub, b[i]); }
inline TensorList mul(TensorList a, const TensorList& b) { return DESCENT_LIST_OP(mul, b[i]); }
template <class S>
TensorList mul(TensorList a, const S& b) {
  return DESCENT_LIST_OP(mul, scalar_at(b, i));
}
inline TensorList div(TensorList a, const TensorList& b) { return DESCENT_LIST_OP(div, b[i]); }
template <class S>
TensorList div(TensorList a, const S& b) {
  return DESCENT_LIST_OP(div, scalar_at(b, i));
}
inline TensorList neg(TensorList a) { return DESCENT_LIST_OP(neg); }
inline TensorList reciprocal(TensorList a) { return DESCENT_LIST_OP(reciprocal); }
inline TensorList sqrt(TensorList a) { return DESCENT_LIST_OP(sqrt); }
// A complex tensor's abs is real, so only a real one is written in place.
inline TensorList abs(TensorList a) {
  return detail_list::reuse_or_map(
      std::move(a), [](const Tensor& t, std::size_t) { return t.is_floating_point(); },
      [](Tensor& t, std::size_t) { t.abs_(); }, [](const Tensor& t, std::size_t) { return t.abs(); });
}
inline TensorList sign(TensorList a) { return DESCENT_LIST_OP(sign); }
template <class S>
TensorList addcmul(TensorList a, const TensorList& b, const TensorList& c, const S& value) {
  return DESCENT_LIST_OP(addcmul, b[i], c[i], scalar_at(value, i));
}
template <class S>
TensorList addcdiv(TensorList a, const TensorList& b, const TensorList& c, const S& value) {
  return DESCENT_LIST_OP(addcdiv, b[i], c[i], scalar_at(value, i));
}
template <class S>
TensorList lerp(TensorList a, const TensorList& b, const S& w) {
  return DESCENT_LIST_OP(lerp, b[i], scalar_at(w, i));
}
template <class S>
TensorList clamp(TensorList a, const S& lo, const S& hi) {
  return DESCENT_LIST_OP(clamp, scalar_at(lo, i), scalar_at(hi, i));
}
#undef DESCENT_LIST_OP

inline TensorList tracked_copy(const TensorList& a) {
  return detail_list::map(a.size(), [&](std::size_t i) { return tracked_copy(a[i]); });
}
inline TensorList detach(const TensorList& a) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].detach(); });
}
inline TensorList maximum(const TensorList& a, const TensorList& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return maximum(a[i], b[i]); });
}
// A list compared with a scalar is formed tensor by tensor by the op that
// consumes it (where, masked_fill_), as PyTorch's per-tensor masks, so no
// list-wide mask is held; it reads the tensors when consumed.
template <class S>
struct ListComparison {
  TensorList a;
  S b;
  Tensor (Tensor::*op)(const Scalar&) const;
  Tensor operator[](std::size_t i) const { return (a[i].*op)(scalar_at(b, i)); }
};
template <class S>
ListComparison<S> gt(const TensorList& a, const S& b) {
  return {a, b, &Tensor::gt};
}
template <class S>
ListComparison<S> lt(const TensorList& a, const S& b) {
  return {a, b, &Tensor::lt};
}
template <class S>
ListComparison<S> eq(const TensorList& a, const S& b) {
  return {a, b, &Tensor::eq};
}
template <class C, class S>
TensorList where(const ListComparison<C>& condition, const S& a, const TensorList& b) {
  return detail_list::map(b.size(),
                          [&](std::size_t i) { return where(condition[i], scalar_at(a, i), b[i]); });
}

template <class S>
void add_(TensorList& a, const TensorList& b, const S& alpha) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].add_(b[i], scalar_at(alpha, i));
}
inline void add_(TensorList& a, const TensorList& b) { _foreach_add_(a, b); }
template <class S>
void add_(TensorList& a, const S& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].add_(scalar_at(b, i));
}
template <class S>
void mul_(TensorList& a, const S& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].mul_(scalar_at(b, i));
}
inline void mul_(TensorList& a, const TensorList& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].mul_(b[i]);
}
template <class S>
void div_(TensorList& a, const S& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].div_(scalar_at(b, i));
}
inline void div_(TensorList& a, const TensorList& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].div_(b[i]);
}
inline void sub_(TensorList& a, const TensorList& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].sub_(b[i]);
}
inline void neg_(TensorList& a) {
  for (Tensor& t : a) t.neg_();
}
inline void sqrt_(TensorList& a) {
  for (Tensor& t : a) t.sqrt_();
}
template <class S>
void clamp_(TensorList& a, const S& lo, const S& hi) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].clamp_(scalar_at(lo, i), scalar_at(hi, i));
}
template <class S>
void addcmul_(TensorList& a, const TensorList& b, const TensorList& c, const S& value) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].addcmul_(b[i], c[i], scalar_at(value, i));
}
template <class S>
void addcdiv_(TensorList& a, const TensorList& b, const TensorList& c, const S& value) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].addcdiv_(b[i], c[i], scalar_at(value, i));
}
template <class S>
void lerp_(TensorList& a, const TensorList& b, const S& w) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].lerp_(b[i], scalar_at(w, i));
}
inline void copy_(TensorList& a, const TensorList& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i].copy_(b[i]);
}
inline void maximum_(TensorList& a, const TensorList& b) {
  for (std::size_t i = 0; i < a.size(); ++i) maximum_(a[i], b[i]);
}
template <class C, class S>
void masked_fill_(TensorList& a, const ListComparison<C>& mask, const S& value) {
  for (std::size_t i = 0; i < a.size(); ++i) masked_fill_(a[i], mask[i], scalar_at(value, i));
}

}  // namespace descent
