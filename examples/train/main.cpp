// descent-train: trains a small MLP on a synthetic task with any of
// descent's optimizers, schedulers and weight averaging; checkpoints,
// resumes bit-identically, draws SVG curves and compares optimizers.
// Without arguments it runs a one-minute tour of all of that.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "descent/error.h"
#include "descent/optim/registry.h"
#include "examples/train/config.h"
#include "examples/train/report.h"
#include "examples/train/trainer.h"

using namespace train;

namespace {

const char* const kUsage = R"(usage: descent-train [options]          (no options: the demo tour)

the run (stored in checkpoints; not allowed with --resume):
  --task spirals|regression   two-spirals classification (default) or 1-D regression
  --hidden H --batch B        MLP width (32) and minibatch size (128)
  --optimizer NAME            any descent optimizer, case-insensitive (default adamw); --list shows them
  --lr LR                     learning rate (default: one that suits the optimizer)
  --opt KEY=VALUE             another optimizer keyword, PyTorch's name (repeatable):
                              --opt momentum=0.9 --opt nesterov=true --opt betas=0.9,0.99
  --scheduler NAME            lr schedule (default onecycle); --list shows them
  --ema DECAY                 keep an exponential moving average of the weights (e.g. 0.999)
  --swa START [--swa-lr LR]   stochastic weight averaging from step START, with SWALR
  --steps N --seed S          length (1000) and seed (0): data, init and batches follow from S

output:
  --checkpoint PATH.dckpt     save a checkpoint (atomically) every --checkpoint-every steps (steps/4) and at the end
  --resume PATH               continue the run in PATH bit-identically (checkpoints go back to PATH)
  --stop-after N              stop after step N, as if interrupted (with a checkpoint)
  --svg PATH                  write loss and lr curves
  --compare A,B,...           train each optimizer on the same data and seed; print a table (--svg: overlaid curves)
  --quiet                     no progress output
)";

struct Args {
  RunConfig run;
  OutputConfig out;
  std::set<std::string> run_flags;  // the run options given
  bool list = false;
};

Args parse(int argc, char** argv) {
  Args a;
  std::vector<std::string> words(argv + 1, argv + argc);
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string flag = words[i], value;
    bool has_value = false;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos && flag != "--opt")
      value = flag.substr(eq + 1), flag = flag.substr(0, eq), has_value = true;
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= words.size()) descent::raise<descent::ValueError>("descent-train: ", flag, " needs a value");
      return words[++i];
    };
    auto number = [&](const std::string& text) {
      descent::Value v = parse_value(text);
      if (!v.is_number()) descent::raise<descent::ValueError>("descent-train: ", flag, " needs a number, got '", text, "'");
      return v;
    };
    auto run_flag = [&] { a.run_flags.insert(flag); };
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (flag == "--list") a.list = true;
    else if (flag == "--task") run_flag(), a.run.task = next();
    else if (flag == "--hidden") run_flag(), a.run.hidden = number(next()).to_int();
    else if (flag == "--batch") run_flag(), a.run.batch = number(next()).to_int();
    else if (flag == "--optimizer") run_flag(), a.run.optimizer = canonical_optimizer(next());
    else if (flag == "--lr") run_flag(), a.run.lr = number(next()).to_double();
    else if (flag == "--opt") {
      run_flag();
      std::string kv = next();
      auto eq = kv.find('=');
      if (eq == std::string::npos) descent::raise<descent::ValueError>("descent-train: --opt needs KEY=VALUE, got '", kv, "'");
      a.run.options.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (flag == "--scheduler") run_flag(), a.run.scheduler = next();
    else if (flag == "--ema") run_flag(), a.run.ema = number(next()).to_double();
    else if (flag == "--swa") run_flag(), a.run.swa_start = number(next()).to_int();
    else if (flag == "--swa-lr") run_flag(), a.run.swa_lr = number(next()).to_double();
    else if (flag == "--steps") run_flag(), a.run.steps = number(next()).to_int();
    else if (flag == "--seed") run_flag(), a.run.seed = static_cast<uint64_t>(number(next()).to_int());
    else if (flag == "--checkpoint") a.out.checkpoint = next();
    else if (flag == "--checkpoint-every") a.out.checkpoint_every = number(next()).to_int();
    else if (flag == "--resume") a.out.resume = next();
    else if (flag == "--stop-after") a.out.stop_after = number(next()).to_int();
    else if (flag == "--svg") a.out.svg = next();
    else if (flag == "--compare") {
      std::stringstream list(next());
      for (std::string name; std::getline(list, name, ',');) a.out.compare.push_back(canonical_optimizer(name));
    } else if (flag == "--quiet") a.out.quiet = true;
    else descent::raise<descent::ValueError>("descent-train: unknown option '", flag, "' (see --help)");
  }
  if (a.run.steps < 1) descent::raise<descent::ValueError>("descent-train: --steps must be positive, got ", a.run.steps);
  if (a.run.ema != 0 && a.run.swa_start >= 0) descent::raise<descent::ValueError>("descent-train: choose one of --ema and --swa");
  if (a.run.ema < 0 || a.run.ema >= 1) descent::raise<descent::ValueError>("descent-train: --ema must be in [0, 1), got ", a.run.ema);
  if (!a.out.resume.empty() && !a.run_flags.empty())
    descent::raise<descent::ValueError>("descent-train: --resume continues the run stored in the checkpoint; ", *a.run_flags.begin(),
                                        " cannot be changed");
  return a;
}

const bool kTerminal = isatty(1) == 1;

std::string describe(const RunConfig& c) {
  std::ostringstream s;
  s << c.task << ", MLP " << (c.task == "spirals" ? 2 : 1) << "-" << c.hidden << "-" << c.hidden << "-"
    << (c.task == "spirals" ? 2 : 1) << " (tanh), " << c.optimizer << " lr " << c.effective_lr();
  for (const auto& [k, v] : c.options) s << " " << k << "=" << v;
  s << ", scheduler " << c.scheduler;
  if (c.ema > 0) s << ", EMA " << c.ema;
  if (c.swa_start >= 0) s << ", SWA from step " << c.swa_start;
  s << ", " << c.steps << " steps, seed " << c.seed;
  return s.str();
}

std::string percent(double a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * a);
  return buf;
}

Result train_with_progress(const RunConfig& c, const OutputConfig& out, const std::string& label, bool lines = true) {
  Progress progress(label, kTerminal, lines);
  Result r = run_training(c, out, [&](int64_t step, int64_t total, double loss, double lr) {
    if (!out.quiet) progress.update(step, total, loss, lr);
  });
  if (!out.quiet) progress.finish();
  return r;
}

void summary(const Result& r) {
  std::printf("  %s after %lld steps (%.2fs): held-out loss %.4f", r.interrupted ? "stopped" : "done",
              static_cast<long long>(r.steps_done), r.seconds, r.eval_loss);
  if (r.accuracy >= 0) std::printf(", accuracy %s", percent(r.accuracy).c_str());
  if (r.averaged_eval_loss >= 0) {
    std::printf("; averaged model: loss %.4f", r.averaged_eval_loss);
    if (r.averaged_accuracy >= 0) std::printf(", accuracy %s", percent(r.averaged_accuracy).c_str());
  }
  std::printf("\n");
  if (!r.checkpoint_written.empty()) std::printf("  checkpoint: %s\n", r.checkpoint_written.c_str());
}

void compare(const RunConfig& base, const OutputConfig& out) {
  std::vector<Result> results;
  std::vector<RunConfig> configs;
  std::vector<std::string> skipped;
  for (const std::string& name : out.compare) {
    RunConfig c = base;
    c.optimizer = name;
    OutputConfig o{.quiet = out.quiet};
    char label[32];
    std::snprintf(label, sizeof label, "  %-10s", name.c_str());
    try {
      results.push_back(train_with_progress(c, o, label, false));
      configs.push_back(c);
    } catch (const descent::Error& e) {
      skipped.push_back(name + ": " + e.what());
    }
  }
  std::printf("\n  %-10s %9s %11s %10s %9s %8s\n", "optimizer", "lr", "train loss", "test loss", "accuracy", "time");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    // The train loss is the mean minibatch loss of the last 5% of the steps (one step is noisy).
    std::size_t tail = std::max<std::size_t>(1, r.history.loss.size() / 20);
    double mean = 0;
    for (std::size_t j = r.history.loss.size() - tail; j < r.history.loss.size(); ++j) mean += r.history.loss[j];
    mean /= static_cast<double>(tail);
    std::printf("  %-10s %9.2e %11.4f %10.4f %9s %7.2fs\n", configs[i].optimizer.c_str(), configs[i].effective_lr(), mean,
                r.eval_loss, r.accuracy >= 0 ? percent(r.accuracy).c_str() : "-", r.seconds);
  }
  for (const std::string& s : skipped) std::printf("  skipped %s\n", s.c_str());
  if (!out.svg.empty()) {
    std::vector<Curve> curves;
    for (std::size_t i = 0; i < results.size(); ++i) curves.push_back({configs[i].optimizer, &results[i].history});
    write_svg(out.svg, "descent-train --compare: " + base.task + ", " + base.scheduler + ", seed " + std::to_string(base.seed), curves);
    std::printf("  curves: %s\n", out.svg.c_str());
  }
}

void list_names() {
  std::cout << "optimizers:";
  for (const std::string& n : descent::optim::optimizer_names()) std::cout << " " << n;
  std::cout << "\n  (SparseAdam needs sparse gradients and does not apply to the MLP; LBFGS runs with a closure)\n";
  std::cout << "schedulers (defaults derived from --steps):\n";
  for (const auto& [name, what] : scheduler_help()) std::printf("  %-14s %s\n", name.c_str(), what.c_str());
}

// The tour: train with checkpoints, interrupted halfway; resume; check the
// result against an uninterrupted run, bit for bit; compare optimizers.
int demo() {
  namespace fs = std::filesystem;
  const fs::path dir = "descent-train-demo";
  fs::create_directories(dir);
  RunConfig c{.optimizer = "AdamW", .lr = 1e-2, .scheduler = "onecycle", .ema = 0.999, .steps = 1000, .seed = 0};
  const std::string ckpt = (dir / "run.dckpt").string();
  std::printf("descent-train demo (descent-train --help for the options)\n");
  std::printf("run: %s\n\n", describe(c).c_str());

  std::printf("1. train, checkpointing every 250 steps; interrupted at step 500\n");
  Result first = train_with_progress(c, {.checkpoint = ckpt, .checkpoint_every = 250, .stop_after = 500}, "  ");
  summary(first);

  std::printf("\n2. descent-train --resume %s\n", ckpt.c_str());
  Result resumed = train_with_progress(c, {.checkpoint = ckpt, .checkpoint_every = 250, .resume = ckpt}, "  ");
  summary(resumed);
  const std::string svg = (dir / "train.svg").string();
  write_svg(svg, "descent-train: " + describe(c), {{c.optimizer, &resumed.history}});
  std::printf("  curves: %s\n", svg.c_str());

  std::printf("\n3. resume check: the same run without interruption\n");
  Result straight = train_with_progress(c, {}, "  ", false);
  bool same = straight.final_params == resumed.final_params && straight.history.loss == resumed.history.loss;
  std::printf("  final parameters and every step's loss %s\n",
              same ? "are bit-identical to the interrupted-and-resumed run" : "DIFFER from the resumed run");

  std::printf("\n4. descent-train --compare sgd,adam,adamw,nadam,rmsprop,adagrad --steps 400 --scheduler cosine\n");
  RunConfig cmp{.scheduler = "cosine", .steps = 400, .seed = 0};
  compare(cmp, {.svg = (dir / "compare.svg").string(), .compare = {"SGD", "Adam", "AdamW", "NAdam", "RMSprop", "Adagrad"}});
  return same ? 0 : 1;
}

int run(int argc, char** argv) {
  if (argc == 1) return demo();
  Args a = parse(argc, argv);
  if (a.list) {
    list_names();
    return 0;
  }
  if (!a.out.compare.empty()) {
    std::printf("compare: %s\n", describe(a.run).c_str());
    compare(a.run, a.out);
    return 0;
  }
  RunConfig c = a.run;
  if (!a.out.resume.empty()) {
    c = checkpoint_config(a.out.resume);
    if (a.out.checkpoint.empty()) a.out.checkpoint = a.out.resume;
    std::printf("resuming %s\n", a.out.resume.c_str());
  }
  std::printf("run: %s\n", describe(c).c_str());
  Result r = train_with_progress(c, a.out, "");
  summary(r);
  if (!a.out.svg.empty()) {
    write_svg(a.out.svg, "descent-train: " + describe(c), {{c.optimizer, &r.history}});
    std::printf("  curves: %s\n", a.out.svg.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const descent::Error& e) {
    std::cerr << "\n" << e.what() << "\n";
    return 2;
  }
}
