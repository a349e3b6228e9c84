// torch.result_type: dimensioned tensors outrank 0-dim tensors, which outrank
// wrapped numbers; a lower rank can only raise the category (bool < integral
// < floating < complex), never the width within a category.
#include "tensor/native.h"

namespace descent::native {

namespace {
struct ResultTypeState {
  std::optional<Dtype> dim, zero, wrapped;
};

void accumulate(std::optional<Dtype>& slot, Dtype d) { slot = slot ? promote_types(*slot, d) : d; }

Dtype wrapped_dtype(const Scalar& s) {
  switch (s.category()) {
    case DtypeCategory::Bool: return kBool;
    case DtypeCategory::Integral: return kInt64;
    case DtypeCategory::Floating: return get_default_dtype();
    case DtypeCategory::Complex: break;
  }
  return to_complex_dtype(get_default_dtype());
}

std::optional<Dtype> combine(std::optional<Dtype> higher, std::optional<Dtype> lower) {
  if (!higher) return lower;
  if (!lower) return higher;
  if (is_complex(*higher)) return higher;
  if (is_complex(*lower)) return is_floating_point(*higher) ? to_complex_dtype(*higher) : *lower;
  if (is_floating_point(*higher)) return higher;
  if (*higher == kBool || is_floating_point(*lower)) return promote_types(*higher, *lower);
  return higher;
}
}  // namespace

Dtype result_type(std::initializer_list<Arg> args) {
  ResultTypeState st;
  for (const Arg& a : args) {
    if (!a.is_tensor()) {
      accumulate(st.wrapped, wrapped_dtype(a.scalar));
    } else if (a.tensor->dim() == 0 && !a.tensor->is_sparse()) {
      accumulate(st.zero, a.tensor->dtype());
    } else {
      accumulate(st.dim, a.tensor->dtype());
    }
  }
  auto r = combine(st.dim, combine(st.zero, st.wrapped));
  return r ? *r : get_default_dtype();
}

bool can_cast(Dtype from, Dtype to) {
  if (is_complex(from) && !is_complex(to)) return false;
  if (is_floating_point(from) && is_integral(to, true)) return false;
  if (from != kBool && to == kBool) return false;
  return true;
}

}  // namespace descent::native

namespace descent {
Dtype result_type(const Tensor& a, const Tensor& b) { return native::result_type({a, b}); }
Dtype result_type(const Tensor& a, const Scalar& b) { return native::result_type({a, b}); }

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  // From the last dimension, so the first mismatch reported is PyTorch's.
  for (std::size_t i = n; i-- > 0;) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      raise<ShapeError>("The size of tensor a (", da, ") must match the size of tensor b (", db,
                        ") at non-singleton dimension ", i, " (shapes ", shape_to_string(a), " and ",
                        shape_to_string(b), " cannot be broadcast)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}
}  // namespace descent
