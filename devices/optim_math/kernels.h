#pragma once
// The list of fused pointwise kernels (dense, and over the rows a sparse
// gradient touches: Backend::fused_pointwise_rows). A kernel is an optimizer's math
// (devices/optim_math/<name>.h); its position in this list is the id that a
// FusedPointwiseArgs carries to the backend, so neither backend.h nor any
// tensor header names an optimizer. Both backends expand the list into one
// switch (for_each_kernel / dispatch_kernel).
#include <type_traits>

#include "devices/optim_math/adadelta.h"
#include "devices/optim_math/adafactor.h"
#include "devices/optim_math/adagrad.h"
#include "devices/optim_math/adam.h"
#include "devices/optim_math/adamax.h"
#include "devices/optim_math/asgd.h"
#include "devices/optim_math/nadam.h"
#include "devices/optim_math/radam.h"
#include "devices/optim_math/rmsprop.h"
#include "devices/optim_math/rprop.h"
#include "devices/optim_math/sgd.h"
#include "devices/optim_math/sparse_adagrad.h"
#include "devices/optim_math/sparse_adam.h"

namespace descent::optim_math {

#define DESCENT_POINTWISE_KERNELS(X) \
  X(Adadelta)                        \
  X(AdafactorUpdate)                 \
  X(AdafactorApply)                  \
  X(Adagrad)                         \
  X(Adam)                            \
  X(Adamax)                          \
  X(ASGD)                            \
  X(NAdam)                           \
  X(RAdam)                           \
  X(RMSprop)                         \
  X(Rprop)                           \
  X(SGD)                             \
  X(SparseAdagrad)                   \
  X(SparseAdam)

enum class KernelId : int {
#define DESCENT_KERNEL_ID(name) name,
  DESCENT_POINTWISE_KERNELS(DESCENT_KERNEL_ID)
#undef DESCENT_KERNEL_ID
};

template <class Math>
constexpr int kernel_id();
#define DESCENT_KERNEL_ID_OF(name) \
  template <>                      \
  constexpr int kernel_id<name>() { return static_cast<int>(KernelId::name); }
DESCENT_POINTWISE_KERNELS(DESCENT_KERNEL_ID_OF)
#undef DESCENT_KERNEL_ID_OF

// Every kernel fits the launch's fixed arrays.
#define DESCENT_KERNEL_FITS(name)                                                       \
  static_assert(name::kSlots <= kMaxFusedState && name::kScalars <= kMaxFusedScalars && \
                    name::kTensorScalars <= kMaxFusedTensorScalars,                     \
                #name ": raise the kMaxFused* limits in backend.h");
DESCENT_POINTWISE_KERNELS(DESCENT_KERNEL_FITS)
#undef DESCENT_KERNEL_FITS

// Whether a kernel reads FusedBroadcast operands: its update then takes
// them (row, col, matrix) after the state slots.
template <class Math>
inline constexpr bool kReadsBroadcast = requires { Math::kBroadcast; };

// Calls fn(Math{}) for the kernel with this id; false for an unknown id.
template <class Fn>
bool dispatch_kernel(int id, Fn&& fn) {
  switch (static_cast<KernelId>(id)) {
#define DESCENT_KERNEL_CASE(name) \
  case KernelId::name:            \
    fn(name{});                   \
    return true;
    DESCENT_POINTWISE_KERNELS(DESCENT_KERNEL_CASE)
#undef DESCENT_KERNEL_CASE
  }
  return false;
}

}  // namespace descent::optim_math
