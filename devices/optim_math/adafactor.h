#pragma once
// Adafactor's fused path (optim/adafactor.cpp), a deliberate extension:
// PyTorch's Adafactor has no fused implementation. Its update is not
// pointwise as a whole — the row and column second moments are reductions
// over the gradient and the update is clipped by RMS(U) — so the step runs
// the reductions through tensor ops and two pointwise passes:
//
//   AdafactorUpdate writes U into the param slot of its launch (a buffer of
//   the param's shape; the param itself is not touched):
//     factored, over a [batch, rows, cols] param with broadcast operands
//     r (per row), c (per column), m = max(mean(r), ε1) (per matrix):
//       U = g · 1/√max(r·c / m, ε1²)
//     unfactored: v = lerp(v, g², w);  U = g · 1/√max(v, ε1²)
//   AdafactorApply, once RMS(U) is known:
//     θ = θ · (1 − γλ);  θ = θ + k · U        (k = −α / max(1, RMS(U)/d))
//
// The roundings are the forloop's tensor ops, one by one (r·c is the outer
// product's single multiplication, rsqrt is 1/√x), so float32 and float64
// give the forloop's bits.
#include "devices/optim_math/flags.h"
#include "devices/optim_math/primitives.h"

namespace descent::optim_math {

struct AdafactorUpdate {
  enum Slot { variance, kSlots };
  enum Scalar { eps1_squared, kScalars };
  enum TensorScalar { weight, kTensorScalars };  // w = t^beta2_decay (unfactored)
  enum Broadcast { row, col, matrix, kBroadcast };
  enum Flag : unsigned { kUnfactored = 1 };
  static constexpr unsigned kFlagBits = 1;
  // Unfactored, v is the only state; factored, r, c and m are read-only
  // broadcast operands (FusedBroadcast).
  static constexpr unsigned kSlotFlags[kSlots] = {kUnfactored};

  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P& t, V& out, V grad, V* s, const V* b) {
    V var;
    if (f.has(kUnfactored)) {
      lerp_(s[variance], mul(grad, grad), t[weight]);
      var = s[variance];
    } else {
      var = div(mul(b[row], b[col]), b[matrix]);
    }
    var = where(lt(var, h[eps1_squared]), h[eps1_squared], var);
    out = mul(div(V(1), sqrt(var)), grad);
  }
};

struct AdafactorApply {
  enum Slot { kSlots };
  enum Scalar { decay, kScalars };                  // 1 − γλ
  enum TensorScalar { multiplier, kTensorScalars };  // −α / max(1, RMS(U)/d)
  enum Flag : unsigned { kWeightDecay = 1 };
  static constexpr unsigned kFlagBits = 1;
  static constexpr unsigned kSlotFlags[1] = {0};

  // `update`: U, in the grad's place.
  template <class F, class V, class H, class P>
  DESCENT_HOST_DEVICE static void update(const F& f, const H& h, const P& t, V& param, V update, V*) {
    if (f.has(kWeightDecay)) mul_(param, h[decay]);
    add_(param, update, t[multiplier]);
  }
};

}  // namespace descent::optim_math
