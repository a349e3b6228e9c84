#include "examples/train/trainer.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <numbers>
#include <optional>

#include "descent/descent.h"

namespace train {

using namespace descent;
namespace lr = descent::optim::lr;
namespace swa = descent::optim::swa_utils;

namespace {

// 2: the minibatch order is a Generator's state and a permutation (format 1
// seeded a Generator per step).
constexpr const char* kFormat = "descent-train checkpoint 2";

// SplitMix64: independent-looking seeds from (seed, stream, index).
uint64_t mix(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream * 0xBF58476D1CE4E5B9ULL + index + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
enum Stream : uint64_t { kTrainData = 1, kTestData = 2, kInit = 3, kBatch = 4 };

struct Data {
  bool classification = true;
  int64_t n = 0, in = 0, out = 0;
  std::vector<float> x{};      // [n, in]
  std::vector<int64_t> label{};  // classification: [n]
  std::vector<float> target{};  // regression: [n, out]
};

// Two interleaved spirals (class k is the other rotated by pi), with noise.
Data spirals(uint64_t seed, uint64_t stream, int64_t per_class) {
  Generator gen(mix(seed, stream, 0));
  Data d{.classification = true, .n = 2 * per_class, .in = 2, .out = 2};
  for (int64_t k = 0; k < 2; ++k)
    for (int64_t i = 0; i < per_class; ++i) {
      // One and a quarter turns, radius up to 2.
      double t = 0.25 + 2.5 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(per_class);
      double angle = t + std::numbers::pi * static_cast<double>(k);
      double r = 2.0 * t / (2.5 * std::numbers::pi);
      d.x.push_back(static_cast<float>(r * std::cos(angle) + 0.04 * gen.next_normal()));
      d.x.push_back(static_cast<float>(r * std::sin(angle) + 0.04 * gen.next_normal()));
      d.label.push_back(k);
    }
  return d;
}

// y = sin(2.5 pi x) * 0.8 + 0.3 x on [-1, 1], with noise.
Data regression(uint64_t seed, uint64_t stream, int64_t n) {
  Generator gen(mix(seed, stream, 0));
  Data d{.classification = false, .n = n, .in = 1, .out = 1};
  for (int64_t i = 0; i < n; ++i) {
    double x = 2.0 * gen.next_double() - 1.0;
    d.x.push_back(static_cast<float>(x));
    d.target.push_back(static_cast<float>(0.8 * std::sin(2.5 * std::numbers::pi * x) + 0.3 * x + 0.05 * gen.next_normal()));
  }
  return d;
}

Data make_data(const RunConfig& c, uint64_t stream) {
  if (c.task == "spirals") return spirals(c.seed, stream, 256);
  if (c.task == "regression") return regression(c.seed, stream, 512);
  raise<ValueError>("descent-train: unknown task '", c.task, "' (known: spirals, regression)");
}

// Rows `rows` of the data set as (input, target) tensors.
std::pair<Tensor, Tensor> rows_of(const Data& d, const std::vector<int64_t>& rows) {
  auto b = static_cast<int64_t>(rows.size());
  std::vector<float> x;
  for (int64_t r : rows) x.insert(x.end(), d.x.begin() + r * d.in, d.x.begin() + (r + 1) * d.in);
  if (d.classification) {
    std::vector<int64_t> y;
    for (int64_t r : rows) y.push_back(d.label[static_cast<std::size_t>(r)]);
    return {tensor(x, {b, d.in}), tensor(y, {b})};
  }
  std::vector<float> y;
  for (int64_t r : rows) y.insert(y.end(), d.target.begin() + r * d.out, d.target.begin() + (r + 1) * d.out);
  return {tensor(x, {b, d.in}), tensor(y, {b, d.out})};
}

// Minibatches without replacement: the rows of a random permutation in
// order, a fresh permutation when one is used up (a batch may span two). One
// Generator, seeded once per run, draws every permutation, so its state, the
// current permutation and the position in it are the loop's whole random
// state; state() and load() carry them through checkpoints.
class Shuffler {
 public:
  Shuffler(uint64_t seed, int64_t n) : gen_(mix(seed, kBatch, 0)), n_(n) {}

  std::vector<int64_t> next(int64_t count) {
    std::vector<int64_t> rows;
    rows.reserve(static_cast<std::size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      if (cursor_ == order_.size()) {
        order_ = randperm(n_, {}, &gen_).to_vector<int64_t>();
        cursor_ = 0;
      }
      rows.push_back(order_[cursor_++]);
    }
    return rows;
  }

  Dict state() const {
    return Dict{{"generator", gen_.get_state()},
                {"order", tensor(order_, {static_cast<int64_t>(order_.size())})},
                {"cursor", static_cast<int64_t>(cursor_)}};
  }

  void load(const Value& state) {
    std::vector<int64_t> order = state.at("order").to_tensor().to_vector<int64_t>();
    const int64_t cursor = state.at("cursor").to_int();
    if (!order.empty() && static_cast<int64_t>(order.size()) != n_)
      raise<ValueError>("descent-train: the checkpoint's batch order has ", order.size(), " rows, the data set ", n_);
    for (int64_t r : order)
      if (r < 0 || r >= n_) raise<ValueError>("descent-train: the checkpoint's batch order holds row ", r, " of ", n_);
    if (cursor < 0 || cursor > static_cast<int64_t>(order.size()))
      raise<ValueError>("descent-train: the checkpoint's batch cursor ", cursor, " is outside [0, ", order.size(), "]");
    gen_.set_state(state.at("generator").to_tensor());
    order_ = std::move(order);
    cursor_ = static_cast<std::size_t>(cursor);
  }

 private:
  Generator gen_;
  int64_t n_;
  std::vector<int64_t> order_;
  std::size_t cursor_ = 0;
};

std::shared_ptr<nn::Sequential> make_model(const RunConfig& c, const Data& d) {
  Generator gen(mix(c.seed, kInit, 0));
  // Muon updates matrices only; on the two-spirals task (odd-symmetric: one
  // spiral is the other negated) a bias-free tanh MLP loses nothing.
  nn::LinearOptions o{.bias = c.optimizer != "Muon", .generator = &gen};
  return std::make_shared<nn::Sequential>(nn::Linear(d.in, c.hidden, o), nn::Tanh(), nn::Linear(c.hidden, c.hidden, o),
                                          nn::Tanh(), nn::Linear(c.hidden, d.out, o));
}

Tensor loss_of(const Data& d, const Tensor& output, const Tensor& target) {
  if (d.classification) return nn::CrossEntropyLoss()(output, target);
  return nn::MSELoss()(output, target);
}

std::unique_ptr<optim::Optimizer> make_optimizer(const RunConfig& c, nn::Module& model) {
  if (c.optimizer == "SparseAdam")
    raise<ValueError>("descent-train: SparseAdam needs sparse gradients (nn::Embedding with sparse = true); "
                      "the MLP's Linear layers produce dense ones, so it does not apply here (try Adam)");
  Dict kwargs{{"lr", c.effective_lr()}};
  // LBFGS with PyTorch's defaults (20 iterations per step, no line search)
  // diverges on minibatches; a few strong-Wolfe iterations per batch train well.
  if (c.optimizer == "LBFGS") kwargs.set("max_iter", 5), kwargs.set("line_search_fn", "strong_wolfe");
  for (const auto& [k, v] : c.options) kwargs.set(k, parse_value(v));
  return optim::make_optimizer(c.optimizer, model.parameters(), kwargs);
}

struct Schedules {
  std::shared_ptr<lr::LRScheduler> main;  // null: constant lr
  bool plateau = false;                   // main is ReduceLROnPlateau: steps with the loss
  std::unique_ptr<swa::SWALR> swa;
};

int64_t at_least_1(int64_t v) { return v < 1 ? 1 : v; }

const std::vector<std::pair<std::string, std::string>> kSchedulers{
    {"none", "constant lr"},
    {"step", "StepLR(step_size = steps/4, gamma = 0.5)"},
    {"multistep", "MultiStepLR(milestones = [steps/2, 3*steps/4], gamma = 0.1)"},
    {"exponential", "ExponentialLR(gamma = 0.01^(1/steps)): lr/100 at the end"},
    {"linear", "LinearLR(1 -> 0.01 over steps)"},
    {"polynomial", "PolynomialLR(total_iters = steps, power = 2)"},
    {"cosine", "CosineAnnealingLR(T_max = steps)"},
    {"warmrestarts", "CosineAnnealingWarmRestarts(T_0 = steps/4)"},
    {"warmup-cosine", "SequentialLR(LinearLR warm-up over steps/10, then CosineAnnealingLR)"},
    {"cyclic", "CyclicLR(lr/10 .. lr, step_size_up = steps/8)"},
    {"onecycle", "OneCycleLR(max_lr = lr, total_steps = steps)"},
    {"plateau", "ReduceLROnPlateau(factor = 0.5, patience = steps/20) on the step loss"},
};

Schedules make_schedules(const RunConfig& c, optim::Optimizer& opt) {
  Schedules s;
  const int64_t n = c.steps;
  const double base = c.effective_lr();
  const Dict& defaults = opt.defaults();
  const bool has_momentum = defaults.contains("momentum") || defaults.contains("betas");
  const std::string& name = c.scheduler;
  if (name == "none") {
  } else if (name == "step") {
    s.main = std::make_shared<lr::StepLR>(opt, at_least_1(n / 4), 0.5);
  } else if (name == "multistep") {
    s.main = std::make_shared<lr::MultiStepLR>(opt, std::vector<int64_t>{n / 2, 3 * n / 4}, 0.1);
  } else if (name == "exponential") {
    s.main = std::make_shared<lr::ExponentialLR>(opt, std::pow(0.01, 1.0 / static_cast<double>(at_least_1(n))));
  } else if (name == "linear") {
    s.main = std::make_shared<lr::LinearLR>(opt, 1.0, 0.01, at_least_1(n));
  } else if (name == "polynomial") {
    s.main = std::make_shared<lr::PolynomialLR>(opt, at_least_1(n), 2.0);
  } else if (name == "cosine") {
    s.main = std::make_shared<lr::CosineAnnealingLR>(opt, at_least_1(n));
  } else if (name == "warmrestarts") {
    s.main = std::make_shared<lr::CosineAnnealingWarmRestarts>(opt, at_least_1(n / 4));
  } else if (name == "warmup-cosine") {
    int64_t warm = at_least_1(n / 10);
    lr::SchedulerList children{std::make_shared<lr::LinearLR>(opt, 0.01, 1.0, warm),
                               std::make_shared<lr::CosineAnnealingLR>(opt, at_least_1(n - warm))};
    s.main = std::make_shared<lr::SequentialLR>(opt, children, std::vector<int64_t>{warm});
  } else if (name == "cyclic") {
    s.main = std::make_shared<lr::CyclicLR>(opt, base / 10, base,
                                            lr::CyclicLROptions{.step_size_up = static_cast<double>(at_least_1(n / 8)),
                                                                .cycle_momentum = has_momentum});
  } else if (name == "onecycle") {
    s.main = std::make_shared<lr::OneCycleLR>(opt, base,
                                              lr::OneCycleLROptions{.total_steps = at_least_1(n), .cycle_momentum = has_momentum});
  } else if (name == "plateau") {
    s.main = std::make_shared<lr::ReduceLROnPlateau>(opt, lr::ReduceLROnPlateauOptions{.factor = 0.5, .patience = at_least_1(n / 20)});
    s.plateau = true;
  } else {
    std::string known;
    for (const auto& [k, _] : kSchedulers) known += (known.empty() ? "" : ", ") + k;
    raise<ValueError>("descent-train: unknown scheduler '", name, "' (known: ", known, ")");
  }
  if (c.swa_start >= 0)
    s.swa = std::make_unique<swa::SWALR>(opt, c.swa_lr.value_or(base / 10), at_least_1(n / 20), "cos");
  return s;
}

// Loss and accuracy of `model` on the held-out set.
std::pair<double, double> evaluate(nn::Module& model, const Data& test) {
  autograd::NoGradGuard no_grad;
  std::vector<int64_t> all(static_cast<std::size_t>(test.n));
  for (int64_t i = 0; i < test.n; ++i) all[static_cast<std::size_t>(i)] = i;
  auto [x, y] = rows_of(test, all);
  Tensor out = model.forward(x);
  double loss = loss_of(test, out, y).item<double>();
  if (!test.classification) return {loss, -1.0};
  std::vector<float> logits = out.contiguous().to_vector<float>();
  int64_t correct = 0;
  for (int64_t i = 0; i < test.n; ++i) {
    int64_t predicted = logits[static_cast<std::size_t>(2 * i + 1)] > logits[static_cast<std::size_t>(2 * i)] ? 1 : 0;
    correct += predicted == test.label[static_cast<std::size_t>(i)];
  }
  return {loss, static_cast<double>(correct) / static_cast<double>(test.n)};
}

Tensor doubles(const std::vector<double>& v) { return tensor(v, {static_cast<int64_t>(v.size())}, {.dtype = kFloat64}); }
std::vector<double> doubles(const Value& v) { return v.to_tensor().to_vector<double>(); }

Dict load_checkpoint(const std::string& path) {
  Value v = load(path);
  if (!v.is_dict() || !v.to_dict().contains("format") || !v.at("format").is_string())
    raise<ValueError>("descent-train: ", path, " is not a descent-train checkpoint");
  if (v.at("format").to_string_value() != kFormat)
    raise<ValueError>("descent-train: ", path, " is a ", v.at("format").str(), ", this descent-train reads '", kFormat,
                      "' only (start the run again)");
  return v.to_dict();
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& scheduler_help() { return kSchedulers; }

RunConfig checkpoint_config(const std::string& path) {
  return RunConfig::from_dict(load_checkpoint(path).at("config").to_dict());
}

Result run_training(const RunConfig& c, const OutputConfig& out, const StepCallback& on_step) {
  const Data data = make_data(c, kTrainData);
  const Data test = make_data(c, kTestData);
  auto model = make_model(c, data);
  auto opt = make_optimizer(c, *model);
  Schedules sched = make_schedules(c, *opt);
  std::unique_ptr<swa::AveragedModel> averaged;
  if (c.ema > 0)
    averaged = std::make_unique<swa::AveragedModel>(*model, swa::AveragedModelOptions{.multi_avg_fn = swa::get_ema_multi_avg_fn(c.ema)});
  else if (c.swa_start >= 0)
    averaged = std::make_unique<swa::AveragedModel>(*model);

  Shuffler shuffler(c.seed, data.n);
  Result result;
  int64_t start = 0;
  if (!out.resume.empty()) {
    Dict ck = load_checkpoint(out.resume);
    model->load_state_dict(to_named_tensors(ck.at("model")));
    opt->load_state_dict(ck.at("optimizer").to_dict());
    if (sched.main) sched.main->load_state_dict(ck.at("scheduler").to_dict());
    if (sched.swa) sched.swa->load_state_dict(ck.at("swa_scheduler").to_dict());
    if (averaged) averaged->load_state_dict(to_named_tensors(ck.at("averaged")));
    start = ck.at("step").to_int();
    shuffler.load(ck.at("rng"));
    result.history.loss = doubles(ck.at("history").at("loss"));
    result.history.lr = doubles(ck.at("history").at("lr"));
  }

  auto save_checkpoint = [&](int64_t step) {
    Dict ck{{"format", kFormat},
            {"config", c.to_dict()},
            {"step", step},
            {"model", to_value(model->state_dict())},
            {"optimizer", opt->state_dict()},
            {"scheduler", sched.main ? Value(sched.main->state_dict()) : Value()},
            {"swa_scheduler", sched.swa ? Value(sched.swa->state_dict()) : Value()},
            {"averaged", averaged ? to_value(averaged->state_dict()) : Value()},
            {"rng", shuffler.state()},
            {"history", Dict{{"loss", doubles(result.history.loss)}, {"lr", doubles(result.history.lr)}}}};
    save(ck, out.checkpoint);  // atomic: temporary file, fsync, rename
    result.checkpoint_written = out.checkpoint;
  };
  const int64_t every = out.checkpoint_every > 0 ? out.checkpoint_every : at_least_1(c.steps / 4);

  auto t0 = std::chrono::steady_clock::now();
  int64_t step = start;
  for (; step < c.steps; ++step) {
    double lr_now = opt->param_groups()[0].lr();
    auto [x, y] = rows_of(data, shuffler.next(c.batch));
    // Every optimizer takes a closure; LBFGS calls it several times per step.
    Tensor loss = opt->step([&] {
      opt->zero_grad();
      Tensor l = loss_of(data, model->forward(x), y);
      l.backward();
      return l;
    });
    double loss_now = loss.item<double>();
    bool in_swa = c.swa_start >= 0 && step >= c.swa_start;
    if (averaged && (c.ema > 0 || in_swa)) averaged->update_parameters(*model);
    if (in_swa)
      sched.swa->step();
    else if (sched.plateau)
      sched.main->step(loss_now);
    else if (sched.main)
      sched.main->step();
    result.history.loss.push_back(loss_now);
    result.history.lr.push_back(lr_now);
    if (on_step) on_step(step + 1, c.steps, loss_now, lr_now);
    bool stopping = out.stop_after > 0 && step + 1 == out.stop_after;
    if (!out.checkpoint.empty() && ((step + 1) % every == 0 || step + 1 == c.steps || stopping)) save_checkpoint(step + 1);
    if (stopping) {
      ++step;
      result.interrupted = step < c.steps;
      break;
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.steps_done = step;
  std::tie(result.eval_loss, result.accuracy) = evaluate(*model, test);
  if (averaged && averaged->n_averaged.item<int64_t>() > 0)
    std::tie(result.averaged_eval_loss, result.averaged_accuracy) = evaluate(*averaged, test);
  result.final_params = serialize(to_value(model->state_dict()));
  return result;
}

}  // namespace train
