#pragma once
// User functions a scheduler calls: LambdaLR's lr_lambda, CyclicLR's scale_fn.
//
// PyTorch saves such a function in the scheduler's state_dict only when it
// is a callable *object* (its attribute dict is saved); plain functions and
// lambdas are saved as None and the loading scheduler keeps the function it
// was constructed with. SchedulerFunction mirrors that: a plain C++ callable is saved
// as None; an object deriving from SchedulerFunction::Object saves what its
// state_dict() returns and receives it back in load_state_dict().
#include <concepts>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "descent/optim/value.h"

namespace descent::optim::lr {

template <typename Signature>
class SchedulerFunction;

/// A scheduler callable (lambda of LambdaLR and friends) with state that survives state_dict/load_state_dict.
template <typename R, typename... Args>
class SchedulerFunction<R(Args...)> {
 public:
  /// A callable with state that survives state_dict/load_state_dict.
  class Object {
   public:
    virtual ~Object() = default;
    virtual R operator()(Args... args) = 0;
    virtual Dict state_dict() const = 0;
    virtual void load_state_dict(const Dict& state) = 0;
  };

  SchedulerFunction() = default;
  template <typename F>
  requires(std::is_invocable_r_v<R, F&, Args...> && !std::is_same_v<std::decay_t<F>, SchedulerFunction>)
      SchedulerFunction(F fn)
      : plain_(std::move(fn)) {}
  template <std::derived_from<Object> T>
  SchedulerFunction(std::shared_ptr<T> object) : object_(std::move(object)) {}

  // False for an empty function (Python: not callable).
  explicit operator bool() const { return object_ != nullptr || static_cast<bool>(plain_); }
  bool is_object() const { return object_ != nullptr; }

  R operator()(Args... args) const { return object_ ? (*object_)(args...) : plain_(args...); }

  // None for a plain function, the object's state otherwise.
  Value state() const { return object_ ? Value(object_->state_dict()) : Value(); }
  // None is ignored; a dict is handed to an object. A plain function cannot
  // hold state, so a dict for one is ignored too (PyTorch would set attributes
  // on the function object that nothing reads).
  void load_state(const Value& state) const {
    if (object_ && state.is_dict()) object_->load_state_dict(state.to_dict());
  }

 private:
  std::function<R(Args...)> plain_;
  std::shared_ptr<Object> object_;
};

}  // namespace descent::optim::lr
