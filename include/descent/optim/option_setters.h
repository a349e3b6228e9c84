#pragma once
// Chainable setters for any options struct, in any order and without
// designated initialisers (which force declaration order and make GCC warn
// -Wmissing-field-initializers about every field left out):
//
//   optim::AdamW opt(params, optim::Options<optim::AdamWOptions>().lr(3e-3).betas({0.9, 0.99}));
//
// Options<O> has one setter per field of O, named as the field (PyTorch's
// keyword), taking the field's type, and converts to O. A setter exists only
// where O has that field, so `.momentum(0.9)` on Adam does not compile. The
// names are listed once below; a static_assert checks that every keyword in
// O::fields() has its setter, so a new option cannot be forgotten here.
#include <string_view>
#include <tuple>
#include <utility>

namespace descent::optim {

template <class O>
class Options;

namespace detail {
/// The field's type when O has it; a type nobody can pass otherwise.
struct NoSuchOption {
  NoSuchOption() = delete;
};
struct OptionsTag {};
}  // namespace detail

#define DESCENT_OPTION_SETTERS(X)                                                                            \
  X(adjust_lr_fn) X(alpha) X(amsgrad) X(beta2_decay) X(betas) X(capturable) X(centered) X(d) X(dampening)    \
  X(decoupled_weight_decay) X(differentiable) X(eps) X(etas) X(foreach) X(fused) X(history_size)             \
  X(initial_accumulator_value) X(lambd) X(line_search_fn) X(lr) X(lr_decay) X(max_eval) X(max_iter)          \
  X(maximize) X(momentum) X(momentum_decay) X(nesterov) X(ns_coefficients) X(ns_steps) X(rho) X(step_sizes) \
  X(t0) X(tolerance_change) X(tolerance_grad) X(weight_decay)

#define DESCENT_OPTION_SETTER(name)                                                       \
  namespace detail {                                                                      \
  template <class O>                                                                      \
  concept has_option_##name = requires(O o) { o.name; };                                  \
  template <class O>                                                                      \
  struct option_type_##name {                                                             \
    using type = NoSuchOption;                                                            \
  };                                                                                      \
  template <class O>                                                                      \
    requires has_option_##name<O>                                                         \
  struct option_type_##name<O> {                                                          \
    using type = decltype(O::name);                                                       \
  };                                                                                      \
  template <class O>                                                                      \
  struct OptionSetter_##name {                                                            \
    Options<O>& name(typename option_type_##name<O>::type value)                          \
      requires has_option_##name<O>                                                       \
    {                                                                                     \
      auto& self = static_cast<Options<O>&>(*this);                                       \
      self.options.name = std::move(value);                                               \
      return self;                                                                        \
    }                                                                                     \
  };                                                                                      \
  }  // namespace detail
DESCENT_OPTION_SETTERS(DESCENT_OPTION_SETTER)
#undef DESCENT_OPTION_SETTER

namespace detail {
#define DESCENT_OPTION_NAME(name) #name,
inline constexpr std::string_view kOptionSetterNames[] = {DESCENT_OPTION_SETTERS(DESCENT_OPTION_NAME)};
#undef DESCENT_OPTION_NAME

constexpr bool has_setter(std::string_view name) {
  for (std::string_view s : kOptionSetterNames)
    if (s == name) return true;
  return false;
}

template <class O>
constexpr bool every_field_has_a_setter() {
  return std::apply([](const auto&... f) { return (has_setter(f.name) && ...); }, O::fields());
}
}  // namespace detail

#define DESCENT_OPTION_BASE(name) , public detail::OptionSetter_##name<O>
/// Chainable setters beside an options struct O (Options<AdamOptions>().lr(1e-2).weight_decay(0.1)), so no field order or initialiser list is needed.
template <class O>
class Options : public detail::OptionsTag DESCENT_OPTION_SETTERS(DESCENT_OPTION_BASE) {
 public:
  static_assert(!requires { O::fields(); } || detail::every_field_has_a_setter<O>(),
                "an option in O::fields() has no setter: add its name to DESCENT_OPTION_SETTERS");

  Options() = default;
  // Starts from existing options instead of the defaults.
  explicit Options(O start) : options(std::move(start)) {}
  operator const O&() const { return options; }

  O options;
};
#undef DESCENT_OPTION_BASE

}  // namespace descent::optim
