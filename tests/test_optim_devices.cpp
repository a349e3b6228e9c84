// The catalogue tests that need accelerators or very large memory
// (test-catalogue §1 #4, #14, #18, #20, #31, #43, #44). Each runs for every
// registry row it applies to when the machine has what it needs, and
// otherwise says in the test output what it skipped and why.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "optim_registry.h"

using namespace descent;
using namespace descent::testing;

namespace {

// Whether `count` CUDA devices are present; prints why the test is skipped if not.
bool have_gpus(int count, const char* test) {
  const int present = cuda::is_available() ? cuda::device_count() : 0;
  if (present >= count) return true;
  MESSAGE(std::string(test), " skipped: needs ", count, " CUDA device(s), this machine has ", present);
  return false;
}

// MemAvailable of /proc/meminfo in GiB (0 where it cannot be read).
double available_host_gib() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kib = 0;
  while (meminfo >> key) {
    if (key == "MemAvailable:" && meminfo >> kib) return kib / (1024.0 * 1024.0);
    meminfo.ignore(256, '\n');
  }
  return 0;
}

// PyTorch's largeTensorTest: runs only with this much free host memory.
bool have_host_memory(double gib, const char* test) {
  const double available = available_host_gib();
  if (available >= gib) return true;
  MESSAGE(std::string(test), " skipped: needs ", gib, " GiB of free host memory, ", available, " GiB available");
  return false;
}

std::vector<Dict> plain_configs(const OptimizerInfo& info) {
  std::vector<Dict> out;
  for (const Dict& c : info.optim_inputs(kFloat32))
    if (!flag_on(c, "capturable")) out.push_back(c);
  return out;
}

// Random grads for `params` on their device (sparse for rows that take only sparse grads).
void random_grads(const OptimizerInfo& info, const std::vector<Tensor>& params, Generator& gen) {
  for (const Tensor& p : params) {
    Tensor g = rand(p.sizes(), {.dtype = p.dtype()}, &gen).to(p.device());
    p.set_grad(info.only_supports_sparse_grads ? g.to_sparse() : g);
  }
}

Tensor on_device(const Tensor& t, Device device) { return t.detach().to(device, true).requires_grad_(); }

void check_close(const Tensor& actual, const Tensor& expected) {
  const std::string diff = mismatch(actual.detach().to(Device(kCPU)), expected.detach().to(Device(kCPU)),
                                    default_tolerance(expected.dtype()));
  CHECK_MESSAGE(diff.empty(), diff);
}

}  // namespace

// #20: a CPU optimizer's state dict, with fused or capturable switched on,
// loads into a device optimizer with that flag, whose step then works (the
// `step` counters move to the device).
TEST_CASE("test_cpu_load_state_dict") {
  if (!have_gpus(1, "test_cpu_load_state_dict")) return;
  const Device cuda0(kCUDA, 0);
  for (const OptimizerInfo& info : rows_for("test_cpu_load_state_dict"))
    for (const char* impl : {"fused", "capturable"}) {
      if (std::string(impl) == "fused" ? !info.supports("fused") : !info.has_capturable_arg) continue;
      for (Dict config : plain_configs(info)) {
        INFO(info.name, " ", describe(config), " ", impl);
        Generator gen(5);
        Tensor p = randn(shape_for(info, {3, 2}), {}, &gen).requires_grad_();
        auto cpu_opt = make(info, Params{p}, config);
        random_grads(info, {p}, gen);
        step_once(info, *cpu_opt);
        Dict sd = deepcopy(cpu_opt->state_dict()).to_dict();
        sd.at("param_groups").to_list().items[0].to_dict().set(impl, true);
        config.set(impl, true);
        Tensor q = on_device(p, cuda0);
        auto dev_opt = make(info, Params{q}, config);
        dev_opt->load_state_dict(sd);
        random_grads(info, {q}, gen);
        CHECK_NOTHROW(step_once(info, *dev_opt));
        if (const Dict* state = dev_opt->state().find(q))
          if (state->contains("step") && state->at("step").is_tensor())
            CHECK(state->at("step").to_tensor().device() == cuda0);
      }
    }
}

// #31: a device twin loads a CPU optimizer's state dict; the dict is not
// changed by the load, `step` stays on the CPU unless fused/capturable, and
// five more steps keep both equal.
TEST_CASE("test_state_dict_with_cuda_params") {
  if (!have_gpus(1, "test_state_dict_with_cuda_params")) return;
  const Device cuda0(kCUDA, 0);
  for (const OptimizerInfo& info : rows_for("test_state_dict_with_cuda_params"))
    for (const Dict& config : expanded_configs(info, kFloat32, {"differentiable"})) {
      INFO(info.name, " ", describe(config));
      const bool sparse = info.only_supports_sparse_grads;
      Quadratic q(3, 2, kFloat32, 6);
      auto opt = make(info, Params(params_for(info, {q.weight, q.bias})), config);
      for (int i = 0; i < 3; ++i) step_once(info, *opt, [&] { return q.closure(*opt, sparse); });
      Quadratic c = q;
      c.weight = on_device(q.weight, cuda0);
      c.bias = on_device(q.bias, cuda0);
      c.input = q.input.to(cuda0);
      auto twin = make(info, Params(params_for(info, {c.weight, c.bias})), config);
      const Dict sd = opt->state_dict();
      const Value before = deepcopy(Value(sd));
      twin->load_state_dict(deepcopy(Value(sd)).to_dict());
      CHECK(Value(sd) == before);
      const bool on_device_step = flag_on(config, "fused") || flag_on(config, "capturable");
      if (const Dict* state = twin->state().find(c.weight))
        if (state->contains("step") && state->at("step").is_tensor())
          CHECK(state->at("step").to_tensor().device().is_cuda() == on_device_step);
      for (int i = 0; i < 5; ++i) {
        step_once(info, *opt, [&] { return q.closure(*opt, sparse); });
        step_once(info, *twin, [&] { return c.closure(*twin, sparse); });
        check_close(c.weight, q.weight);
        if (!info.only_2d_params) check_close(c.bias, q.bias);
      }
    }
}

// #4: as test_forloop_goes_right_direction with the weight on one device and
// the bias on another.
TEST_CASE("test_forloop_goes_right_direction_multigpu") {
  if (!have_gpus(2, "test_forloop_goes_right_direction_multigpu")) return;
  const Device cuda0(kCUDA, 0), cuda1(kCUDA, 1);
  for (const OptimizerInfo& info : rows_for("test_forloop_goes_right_direction_multigpu"))
    for (Dict config : plain_configs(info)) {
      if (info.supports("foreach")) config.set("foreach", false);
      INFO(info.name, " ", describe(config));
      Generator gen(7);
      Tensor weight = randn({10, 5}, {}, &gen).to(cuda0).requires_grad_();
      Tensor bias = randn({10}, {}, &gen).to(cuda1).requires_grad_();
      Tensor input = randn({5}, {}, &gen).to(cuda0);
      auto opt = make(info, Params(params_for(info, {weight, bias})), config);
      auto loss = [&] {
        Tensor r = weight.matmul(input).to(cuda1) + bias;
        return (r * r).sum();
      };
      auto closure = [&] {
        opt->zero_grad();
        Tensor l = loss();
        l.backward();
        if (info.only_supports_sparse_grads)
          for (Tensor p : {weight, bias}) p.set_grad(p.grad().to_sparse());
        return l;
      };
      const double initial = loss().item<double>();
      for (int i = 0; i < 20; ++i) step_once(info, *opt, closure);
      const double final_loss = loss().item<double>();
      if (flag_on(config, "maximize"))
        CHECK(final_loss > initial);
      else
        CHECK(final_loss < initial);
    }
}

// #44: with neither foreach nor fused given, a step on CUDA params runs the
// foreach implementation (optimizer-base.md §9.1). Observed by its result:
// equal bit for bit to foreach=True's over a few steps.
TEST_CASE("test_defaults_changed_to_foreach") {
  if (!have_gpus(1, "test_defaults_changed_to_foreach")) return;
  const Device cuda0(kCUDA, 0);
  for (const OptimizerInfo& info : rows_for("test_defaults_changed_to_foreach")) {
    if (!info.supports("foreach")) continue;
    for (Dict config : plain_configs(info)) {
      if (info.foreach_rejects_tensor_lr && config.contains("lr") && config.at("lr").is_tensor()) continue;
      config.erase("foreach");
      config.erase("fused");
      INFO(info.name, " ", describe(config));
      Dict explicit_foreach = config;
      explicit_foreach.set("foreach", true);
      Generator init(8);
      Tensor p = randn(shape_for(info, {4, 3}), {}, &init).to(cuda0).requires_grad_();
      Tensor r = on_device(p, cuda0);
      auto by_default = make(info, Params{p}, config);
      auto foreach = make(info, Params{r}, explicit_foreach);
      Generator grads(9);
      for (int i = 0; i < 3; ++i) {
        Tensor g = randn(p.sizes(), {}, &grads).to(cuda0);
        p.set_grad(g);
        r.set_grad(g.clone());
        by_default->step();
        foreach->step();
        CHECK(equal(p.detach().to(Device(kCPU)), r.detach().to(Device(kCPU))));
      }
    }
  }
}

// #43: CPU fused and CUDA fused steps agree within the default tolerances,
// for every fused row and the dtypes its fused kernels take. Without a GPU
// the CUDA backend's fused kernels are still run: "thrust-host backend:
// fused optimizer kernels match the CPU backend bit for bit"
// (test_cuda_reduce) runs every kernel of the list on the thrust-host build.
TEST_CASE("test_fused_cpu_matches_cuda") {
  if (!have_gpus(1, "test_fused_cpu_matches_cuda (the thrust-host kernel parity runs in test_cuda_reduce)")) return;
  const Device cuda0(kCUDA, 0);
  for (const OptimizerInfo& info : rows_for("test_fused_cpu_matches_cuda")) {
    if (!info.supports("fused")) continue;
    for (Dtype dtype : info.fused_dtypes)
      for (Dict config : plain_configs(info)) {
        config.set("fused", true);
        INFO(info.name, " ", describe(config), " ", to_string(dtype));
        Generator init(10);
        std::vector<Tensor> cpu_params, dev_params;
        for (const Shape& shape : {Shape{3, 2}, Shape{3}, Shape{}}) {
          Tensor p = randn(shape_for(info, shape), {.dtype = kFloat64}, &init).to(dtype).requires_grad_();
          cpu_params.push_back(p);
          dev_params.push_back(on_device(p, cuda0));
        }
        auto cpu_opt = make(info, Params(params_for(info, cpu_params)), config);
        auto dev_opt = make(info, Params(params_for(info, dev_params)), config);
        Generator grads(11);
        for (int i = 0; i < 7; ++i) {
          for (std::size_t k = 0; k < cpu_params.size(); ++k) {
            Tensor g = randn(cpu_params[k].sizes(), {.dtype = kFloat64}, &grads).to(dtype);
            cpu_params[k].set_grad(g);
            dev_params[k].set_grad(g.to(cuda0));
          }
          cpu_opt->step();
          dev_opt->step();
          for (std::size_t k = 0; k < cpu_params.size(); ++k) check_close(dev_params[k], cpu_params[k]);
        }
      }
  }
}

// #14: one foreach step over a float16 param of 2^32 elements (64-bit
// indexing through the foreach ops). One config per row: the configs do not
// change the indexing, and on the CPU each takes seconds.
TEST_CASE("test_foreach_large_tensor") {
  if (!have_host_memory(72, "test_foreach_large_tensor")) return;
  for (const OptimizerInfo& info : rows_for("test_foreach_large_tensor")) {
    if (!info.supports("foreach")) continue;
    INFO(info.name);
    Tensor p = ones(shape_for(info, {int64_t{1} << 32}), {.dtype = kFloat16});
    p.set_grad(zeros(p.sizes(), {.dtype = kFloat16}));
    auto opt = make(info, Params{p}, Dict{{"foreach", true}});
    CHECK_NOTHROW(opt->step());
  }
}

// #18: the same for one fused step (64-bit indexing in the fused kernels).
TEST_CASE("test_fused_large_tensor") {
  if (!have_host_memory(64, "test_fused_large_tensor")) return;
  for (const OptimizerInfo& info : rows_for("test_fused_large_tensor")) {
    if (!info.supports("fused")) continue;
    INFO(info.name);
    Tensor p = ones({int64_t{1} << 32}, {.dtype = kFloat16});
    p.set_grad(zeros(p.sizes(), {.dtype = kFloat16}));
    auto opt = make(info, Params{p}, Dict{{"fused", true}});
    CHECK_NOTHROW(opt->step());
  }
}
