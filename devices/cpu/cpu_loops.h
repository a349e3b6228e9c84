#pragma once
// Internal helpers shared by the CPU kernels.
#include <cstdint>
#include <type_traits>
#include <utility>

namespace descent::detail {

// Calls f(std::integral_constant<E, v>{}) for the runtime enumerator v of an
// enum whose enumerators are 0 .. count-1: turns a runtime op into a template argument.
template <class E, int Count, class F>
void visit_enum(E value, F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((static_cast<int>(value) == I ? (f(std::integral_constant<E, static_cast<E>(I)>{}), 0) : 0), ...);
  }(std::make_integer_sequence<int, Count>{});
}

}  // namespace descent::detail
