#pragma once
// The primitives of devices/optim_math/primitives.h for whole tensors (the
// forloop; autograd records them under differentiable=True) and for tensor
// lists (foreach: each op runs over the whole list before the next one, as
// torch._foreach_* does). Out-of-place ops on tensors are descent's own free
// functions, found by argument-dependent lookup; this file adds the in-place
// forms and the list forms. A list op's scalar is either one number for
// every tensor or a per-tensor list (the host scalars that depend on each
// tensor's step).
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
inline Tensor tracked_copy(const Tensor& a) { return a.requires_grad() ? a.clone() : a; }
inline Tensor detach(const Tensor& a) { return a.detach(); }
inline Tensor gt(const Tensor& a, double b) { return a.gt(b); }
inline Tensor lt(const Tensor& a, double b) { return a.lt(b); }
inline Tensor eq(const Tensor& a, double b) { return a.eq(b); }
inline Tensor add(const Tensor& a, double b) { return a.add(b); }
inline Tensor clamp(const Tensor& a, double lo, double hi) { return a.clamp(lo, hi); }

// ---- tensor lists ----
namespace detail_list {
template <class Fn>
TensorList map(std::size_t n, Fn&& fn) {
  TensorList out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(fn(i));
  return out;
}
}  // namespace detail_list

using optim::detail::scalar_at;

template <class S>
TensorList add(const TensorList& a, const TensorList& b, const S& alpha) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].add(b[i], scalar_at(alpha, i)); });
}
inline TensorList add(const TensorList& a, const TensorList& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].add(b[i]); });
}
template <class S>
TensorList add(const TensorList& a, const S& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].add(scalar_at(b, i)); });
}
inline TensorList sub(const TensorList& a, const TensorList& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].sub(b[i]); });
}
inline TensorList mul(const TensorList& a, const TensorList& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].mul(b[i]); });
}
template <class S>
TensorList mul(const TensorList& a, const S& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].mul(scalar_at(b, i)); });
}
inline TensorList div(const TensorList& a, const TensorList& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].div(b[i]); });
}
template <class S>
TensorList div(const TensorList& a, const S& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].div(scalar_at(b, i)); });
}
inline TensorList neg(const TensorList& a) { return _foreach_neg(a); }
inline TensorList reciprocal(const TensorList& a) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].reciprocal(); });
}
inline TensorList sqrt(const TensorList& a) { return _foreach_sqrt(a); }
inline TensorList tracked_copy(const TensorList& a) {
  return detail_list::map(a.size(), [&](std::size_t i) { return tracked_copy(a[i]); });
}
inline TensorList detach(const TensorList& a) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].detach(); });
}
inline TensorList abs(const TensorList& a) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].abs(); });
}
inline TensorList sign(const TensorList& a) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].sign(); });
}
inline TensorList maximum(const TensorList& a, const TensorList& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return maximum(a[i], b[i]); });
}
template <class S>
TensorList addcmul(const TensorList& a, const TensorList& b, const TensorList& c, const S& value) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].addcmul(b[i], c[i], scalar_at(value, i)); });
}
template <class S>
TensorList addcdiv(const TensorList& a, const TensorList& b, const TensorList& c, const S& value) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].addcdiv(b[i], c[i], scalar_at(value, i)); });
}
template <class S>
TensorList lerp(const TensorList& a, const TensorList& b, const S& w) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].lerp(b[i], scalar_at(w, i)); });
}
template <class S>
TensorList clamp(const TensorList& a, const S& lo, const S& hi) {
  return detail_list::map(a.size(),
                          [&](std::size_t i) { return a[i].clamp(scalar_at(lo, i), scalar_at(hi, i)); });
}
template <class S>
TensorList gt(const TensorList& a, const S& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].gt(scalar_at(b, i)); });
}
template <class S>
TensorList lt(const TensorList& a, const S& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].lt(scalar_at(b, i)); });
}
template <class S>
TensorList eq(const TensorList& a, const S& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return a[i].eq(scalar_at(b, i)); });
}
template <class S>
TensorList where(const TensorList& condition, const S& a, const TensorList& b) {
  return detail_list::map(b.size(), [&](std::size_t i) { return where(condition[i], scalar_at(a, i), b[i]); });
}
template <class S>
TensorList where(const TensorList& condition, const TensorList& a, const S& b) {
  return detail_list::map(a.size(), [&](std::size_t i) { return where(condition[i], a[i], scalar_at(b, i)); });
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

}  // namespace descent
