#include "descent/optim/lbfgs.h"

#include "descent/autograd/grad_mode.h"
#include "optim/kwargs.h"
#include "optim/lbfgs_line_search.h"
#include "optim/py_number.h"

namespace descent::optim {

using namespace detail;

namespace {

// Python's a // b for ints (floor, also for negative a).
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

void check_int(const Value& v, const char* what) {
  if (!v.is_int()) raise<TypeError>("LBFGS: ", what, " must be an int, got ", v.type_name(), " (", v.str(), ")");
}
void check_number(const Value& v, const char* what) {
  if (!v.is_number()) raise<TypeError>("LBFGS: ", what, " must be a number, got ", v.type_name(), " (", v.str(), ")");
}

LBFGSOptions validated(LBFGSOptions o) {
  check_lr("LBFGS", o.lr);
  check_int(o.max_iter, "max_iter");
  if (o.max_eval.is_none()) o.max_eval = floor_div(o.max_iter.to_int() * 5, 4);
  check_int(o.max_eval, "max_eval");
  check_number(o.tolerance_grad, "tolerance_grad");
  check_number(o.tolerance_change, "tolerance_change");
  check_int(o.history_size, "history_size");
  // PyTorch accepts these and fails inside step() (pop from an empty list,
  // or a history growing without bound).
  if (o.history_size.to_int() < 1)
    raise<ValueError>("LBFGS: Invalid history_size: ", o.history_size.str(), " (must be >= 1)");
  return o;
}

// The one group's hyper-parameters, read at every step (schedulers may change them).
struct Settings {
  PyNumber lr;
  int64_t max_iter, max_eval, history_size;
  double tolerance_grad, tolerance_change;
  Value line_search_fn;
  bool maximize;
};

Settings read_settings(const ParamGroup& g) {
  const Value lr = squeeze_scalar(g.at("lr"));
  const Value* maximize = g.options.find("maximize");  // PyTorch reads it with a default
  return {lr.is_tensor() ? PyNumber(lr.to_tensor()) : PyNumber::from_value(lr, "lr"),
          g.at("max_iter").to_int(),
          g.at("max_eval").to_int(),
          g.at("history_size").to_int(),
          get_double(g, "tolerance_grad"),
          get_double(g, "tolerance_change"),
          g.at("line_search_fn"),
          maximize != nullptr && maximize->to_bool()};
}

// The group's params as one flat vector (complex params as their real view),
// as LBFGS._gather_flat_grad / _add_grad / _clone_param / _set_param.
class FlatParams {
 public:
  FlatParams(std::vector<Tensor>& params, bool maximize) : params_(params), maximize_(maximize) {}

  // The grads concatenated: a missing grad counts as zeros, a sparse one
  // densified. Each grad is checked against its param first, so a bad one
  // raises before any param moves.
  Tensor gather_flat_grad() const {
    std::vector<ParamRef> with_grad;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      Tensor& p = params_[i];
      if (p.grad().defined())
        with_grad.push_back({&p, &p.grad(), p.unsafe_get_impl(), p.grad().unsafe_get_impl(), i});
    }
    check_grads_fit("LBFGS", with_grad);
    std::vector<Tensor> views;
    for (const Tensor& p : params_) {
      const Tensor& grad = p.grad();
      Tensor view = !grad.defined() ? zeros({p.numel()}, {.dtype = p.dtype(), .device = p.device()})
                                    : (grad.is_sparse() ? grad.to_dense() : grad).view({-1});
      if (view.is_complex()) view = view_as_real(view).view({-1});
      views.push_back(view);
    }
    Tensor flat = cat(views, 0);
    if (maximize_) flat.neg_();
    return flat;
  }

  // θ += step · update, slice by slice.
  void add_grad(const PyNumber& step, const Tensor& update) {
    const Scalar alpha = step.scalar();
    int64_t offset = 0;
    for (Tensor& param : params_) {
      Tensor p = as_real(param);
      p.add_(update.narrow(0, offset, p.numel()).view(p.sizes()), alpha);
      offset += p.numel();
    }
    if (offset != update.numel())
      raise<RuntimeError>("LBFGS: the direction has ", update.numel(), " elements, the params ", offset);
  }

  std::vector<Tensor> clone_params() const {
    std::vector<Tensor> out;
    for (const Tensor& p : params_) out.push_back(p.clone());
    return out;
  }
  void set_params(const std::vector<Tensor>& values) {
    for (std::size_t i = 0; i < params_.size(); ++i) params_[i].copy_(values[i]);
  }

 private:
  std::vector<Tensor>& params_;
  bool maximize_;
};

// float(loss), negated when maximizing.
double loss_value(const Tensor& loss, bool maximize) {
  if (!loss.defined()) raise<TypeError>("LBFGS: the closure must return the loss, got an undefined Tensor");
  const double value = loss.item<double>();
  return maximize ? -value : value;
}

bool below(const Tensor& t, double tolerance) { return t.abs().max().le(tolerance).item<bool>(); }

// State entries restored at the start of a step and stored at its end; an
// unset optional is Python's None (the first step, or max_iter <= 0).
struct History {
  Tensor d;
  std::optional<PyNumber> t;
  std::optional<std::vector<Tensor>> old_dirs, old_stps;
  std::optional<std::vector<PyNumber>> ro;
  std::optional<PyNumber> H_diag;
  Tensor prev_flat_grad;
  std::optional<double> prev_loss;
};

std::optional<std::vector<Tensor>> tensors_of(const Value* v, const char* key) {
  if (v == nullptr || v->is_none()) return std::nullopt;
  if (!v->is_list()) raise<TypeError>("LBFGS: state '", key, "' must be a list, got ", v->type_name());
  std::vector<Tensor> out;
  for (const Value& item : v->to_list().items) out.push_back(item.to_tensor());
  return out;
}
Value list_of(const std::optional<std::vector<Tensor>>& v) {
  if (!v) return Value();
  return Value::list(std::vector<Value>(v->begin(), v->end()));
}
std::optional<PyNumber> number_of(const Value* v, const char* key) {
  if (v == nullptr || v->is_none()) return std::nullopt;
  return PyNumber::from_value(*v, key);
}
Value value_of(const std::optional<PyNumber>& v) { return v ? v->to_value() : Value(); }

History restore(const Dict& st) {
  History h;
  if (const Value* d = st.find("d"); d && !d->is_none()) h.d = d->to_tensor();
  h.t = number_of(st.find("t"), "t");
  h.old_dirs = tensors_of(st.find("old_dirs"), "old_dirs");
  h.old_stps = tensors_of(st.find("old_stps"), "old_stps");
  if (const Value* ro = st.find("ro"); ro && !ro->is_none()) {
    if (!ro->is_list()) raise<TypeError>("LBFGS: state 'ro' must be a list, got ", ro->type_name());
    h.ro.emplace();
    for (const Value& item : ro->to_list().items) h.ro->push_back(PyNumber::from_value(item, "ro"));
  }
  h.H_diag = number_of(st.find("H_diag"), "H_diag");
  if (const Value* g = st.find("prev_flat_grad"); g && !g->is_none()) h.prev_flat_grad = g->to_tensor();
  if (const Value* l = st.find("prev_loss"); l && !l->is_none()) h.prev_loss = l->to_double();
  return h;
}

void store(Dict& st, const History& h) {
  st.set("d", h.d.defined() ? Value(h.d) : Value());
  st.set("t", value_of(h.t));
  st.set("old_dirs", list_of(h.old_dirs));
  st.set("old_stps", list_of(h.old_stps));
  if (h.ro) {
    std::vector<Value> ro;
    for (const PyNumber& r : *h.ro) ro.push_back(r.to_value());
    st.set("ro", Value::list(std::move(ro)));
  } else {
    st.set("ro", Value());
  }
  st.set("H_diag", value_of(h.H_diag));
  st.set("prev_flat_grad", h.prev_flat_grad.defined() ? Value(h.prev_flat_grad) : Value());
  st.set("prev_loss", h.prev_loss ? Value(*h.prev_loss) : Value());
}

// A later iteration needs what the earlier ones left (a loaded state may lack it).
void require_history(const History& h) {
  if (!h.d.defined() || !h.t || !h.old_dirs || !h.old_stps || !h.ro || !h.H_diag || !h.prev_flat_grad.defined())
    raise<KeyError>("LBFGS: state of the first param has n_iter > 0 but lacks the history (d, t, old_dirs, "
                    "old_stps, ro, H_diag, prev_flat_grad) the next iteration needs");
  if (h.old_dirs->size() != h.old_stps->size() || h.old_dirs->size() != h.ro->size())
    raise<ValueError>("LBFGS: state lists old_dirs, old_stps and ro differ in length (", h.old_dirs->size(), ", ",
                      h.old_stps->size(), ", ", h.ro->size(), ")");
}

// d = −H g by the two-loop recursion over the stored pairs, after adding the
// newest pair (y, s) when its curvature yᵀs is positive enough.
Tensor lbfgs_direction(History& h, Dict& st, const Tensor& flat_grad, int64_t history_size) {
  require_history(h);
  auto& old_dirs = *h.old_dirs;
  auto& old_stps = *h.old_stps;
  auto& ro = *h.ro;
  const Tensor y = flat_grad.sub(h.prev_flat_grad);
  const Tensor s = mul(h.d, *h.t);
  const PyNumber ys(y.dot(s));
  if (ys > PyNumber(1e-10)) {
    if (static_cast<int64_t>(old_dirs.size()) == history_size) {
      old_dirs.erase(old_dirs.begin());
      old_stps.erase(old_stps.begin());
      ro.erase(ro.begin());
    }
    old_dirs.push_back(y);
    old_stps.push_back(s);
    ro.push_back(PyNumber(1.0) / ys);
    h.H_diag = ys / PyNumber(y.dot(y));
  }
  const std::size_t num_old = old_dirs.size();
  // `al` is kept in the state (created once, history_size long), as PyTorch does.
  if (!st.contains("al")) st.set("al", Value::list(std::vector<Value>(static_cast<std::size_t>(history_size))));
  Value& al_value = st.at("al");
  if (!al_value.is_list()) raise<TypeError>("LBFGS: state 'al' must be a list, got ", al_value.type_name());
  std::vector<Value>& al_items = al_value.to_list().items;
  if (al_items.size() < num_old)
    raise<IndexError>("LBFGS: state 'al' has ", al_items.size(), " entries for ", num_old,
                      " history pairs (history_size grew between steps?)");
  std::vector<PyNumber> al(num_old, PyNumber(0));
  Tensor q = flat_grad.neg();
  for (std::size_t k = num_old; k-- > 0;) {
    al[k] = PyNumber(old_stps[k].dot(q)) * ro[k];
    q.add_(old_dirs[k], (-al[k]).scalar());
    al_items[k] = al[k].to_value();
  }
  Tensor r = mul(q, *h.H_diag);
  for (std::size_t k = 0; k < num_old; ++k) {
    const PyNumber be = PyNumber(old_dirs[k].dot(r)) * ro[k];
    r.add_(old_stps[k], (al[k] - be).scalar());
  }
  return r;
}

}  // namespace

LBFGS::LBFGS(Params params, const LBFGSOptions& o) : Optimizer("LBFGS", options_dict(validated(o))) {
  init_param_groups(std::move(params));
  if (param_groups().size() != 1)
    raise<ValueError>("LBFGS doesn't support per-parameter options (parameter groups): got ",
                      param_groups().size(), " groups, LBFGS takes one");
}

void LBFGS::setstate_group_defaults(ParamGroup& group) { group.options.setdefault("maximize", false); }

void LBFGS::step_group(ParamGroup&) {
  raise<RuntimeError>("LBFGS: step_group is not used; step(closure) optimises the one group");
}

Tensor LBFGS::step_impl(const Closure& user_closure) {
  if (!user_closure) raise<TypeError>("LBFGS.step() missing 1 required positional argument: 'closure'");
  if (param_groups().size() != 1)
    raise<RuntimeError>("LBFGS: expected exactly one param_group, but got ", param_groups().size());
  // The closure always records gradients; everything else here does not.
  auto closure = [&user_closure] {
    autograd::EnableGradGuard enable;
    return user_closure();
  };
  autograd::NoGradGuard no_grad;
  ParamGroup& group = param_groups()[0];
  // Nothing to optimise: evaluate the closure for its loss, as PyTorch does.
  if (group.params.empty()) return closure();

  const Settings cfg = read_settings(group);
  FlatParams flat(group.params, cfg.maximize);
  // LBFGS's state is global; PyTorch keeps it under the first param so that
  // load_state_dict casts it like per-parameter state.
  Dict& st = state()[group.params[0]];
  st.setdefault("func_evals", int64_t{0});
  st.setdefault("n_iter", int64_t{0});
  auto add_to = [&st](const char* key, int64_t amount) { st.set(key, st.at(key).to_int() + amount); };

  const Tensor orig_loss = closure();
  double loss = loss_value(orig_loss, cfg.maximize);
  int64_t current_evals = 1;
  add_to("func_evals", 1);
  Tensor flat_grad = flat.gather_flat_grad();
  bool opt_cond = below(flat_grad, cfg.tolerance_grad);
  if (opt_cond) return orig_loss;

  History h = restore(st);
  for (int64_t n_iter = 1; n_iter <= cfg.max_iter; ++n_iter) {
    add_to("n_iter", 1);
    const bool first = st.at("n_iter").to_int() == 1;
    if (first) {
      h.d = flat_grad.neg();
      h.old_dirs.emplace();
      h.old_stps.emplace();
      h.ro.emplace();
      h.H_diag = PyNumber(1);
    } else {
      h.d = lbfgs_direction(h, st, flat_grad, cfg.history_size);
    }
    if (h.prev_flat_grad.defined()) {
      h.prev_flat_grad.copy_(flat_grad);
    } else {
      h.prev_flat_grad = flat_grad.clone();
    }
    h.prev_loss = loss;

    // The first step ever is scaled down to at most lr / ‖g‖₁.
    PyNumber t = first ? py_min(PyNumber(1.0), PyNumber(1.0) / PyNumber(flat_grad.abs().sum())) * cfg.lr : cfg.lr;
    h.t = t;
    const PyNumber gtd(flat_grad.dot(h.d));
    if (gtd > PyNumber(-cfg.tolerance_change)) break;  // not a descent direction (any more)

    int64_t ls_func_evals = 0;
    if (!cfg.line_search_fn.is_none()) {
      if (!cfg.line_search_fn.is_string() || cfg.line_search_fn.to_string_value() != "strong_wolfe")
        raise<RuntimeError>("only 'strong_wolfe' is supported (LBFGS line_search_fn is ",
                            cfg.line_search_fn.str(), ")");
      const std::vector<Tensor> x_init = flat.clone_params();
      auto obj = [&](const std::vector<Tensor>& x, const PyNumber& step, const Tensor& d) {
        flat.add_grad(step, d);
        const double f = loss_value(closure(), cfg.maximize);
        Tensor g = flat.gather_flat_grad();
        flat.set_params(x);
        return std::pair(f, g);
      };
      // The search may use what is left of this step's evaluation budget.
      LineSearchResult ls = strong_wolfe(obj, x_init, t, h.d, loss, flat_grad, gtd, 1e-4, 0.9, 1e-9,
                                         cfg.max_eval - current_evals);
      loss = ls.loss;
      flat_grad = ls.flat_grad;
      h.t = ls.t;
      ls_func_evals = ls.func_evals;
      flat.add_grad(*h.t, h.d);
      opt_cond = below(flat_grad, cfg.tolerance_grad);
    } else {
      flat.add_grad(t, h.d);
      // The last iteration does not re-evaluate: in a stochastic setting the
      // next step's first evaluation would repeat it.
      if (n_iter != cfg.max_iter) {
        loss = loss_value(closure(), cfg.maximize);
        flat_grad = flat.gather_flat_grad();
        opt_cond = below(flat_grad, cfg.tolerance_grad);
        ls_func_evals = 1;
      }
    }
    current_evals += ls_func_evals;
    add_to("func_evals", ls_func_evals);

    if (n_iter == cfg.max_iter) break;
    if (current_evals >= cfg.max_eval) break;
    if (opt_cond) break;
    if (below(mul(h.d, *h.t), cfg.tolerance_change)) break;  // lack of progress
    if (std::abs(loss - *h.prev_loss) < cfg.tolerance_change) break;
  }
  store(st, h);
  return orig_loss;
}

}  // namespace descent::optim
