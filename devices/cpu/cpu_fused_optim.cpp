// Fused optimizer kernels on the CPU: the work of a whole bucket is cut into
// cache-friendly chunks (many small tensors share a chunk list with the
// slices of large ones) and spread over the thread pool. Each chunk is one
// pass over its param, grad and state memory.
#include <algorithm>

#include "descent/devices/parallel.h"
#include "descent/error.h"
#include "devices/cpu/cpu_backend.h"
#include "devices/fused_optim_math.h"

namespace descent {

namespace {
struct Chunk {
  std::size_t tensor;
  int64_t begin, end;
};

std::vector<Chunk> make_chunks(const std::vector<FusedTensor>& tensors) {
  constexpr int64_t kChunk = 16384;
  std::vector<Chunk> chunks;
  for (std::size_t t = 0; t < tensors.size(); ++t)
    for (int64_t b = 0; b < tensors[t].numel; b += kChunk)
      chunks.push_back({t, b, std::min(tensors[t].numel, b + kChunk)});
  return chunks;
}

// Runs body(tensor, begin, end) over every chunk; chunks are grouped so each
// thread gets about kGrainSize elements of work.
template <typename Body>
void for_each_chunk(const std::vector<FusedTensor>& tensors, Body&& body) {
  std::vector<Chunk> chunks = make_chunks(tensors);
  int64_t total = 0;
  for (const auto& t : tensors) total += t.numel;
  auto n = static_cast<int64_t>(chunks.size());
  int64_t grain = total > kGrainSize ? 1 : n;
  parallel_for(0, n, std::max<int64_t>(grain, 1), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) body(tensors[chunks[c].tensor], chunks[c].begin, chunks[c].end);
  });
}

// Reads the gradient, unscaling (and writing the unscaled value back) under AMP.
template <class S, class T>
inline T load_grad(S* grad, int64_t i, const float* grad_scale) {
  T g = static_cast<T>(static_cast<typename math::opmath<S>::type>(grad[i]));
  if (grad_scale != nullptr) {
    g = g / static_cast<T>(*grad_scale);
    grad[i] = static_cast<S>(g);
  }
  return g;
}

template <class S>
void adam_kernel(const std::vector<FusedTensor>& tensors, const FusedAdamArgs& args) {
  using T = typename math::opmath<S>::type;
  bool has_wd = args.weight_decay != 0.0;
  for_each_chunk(tensors, [&](const FusedTensor& t, int64_t begin, int64_t end) {
    fused::AdamScalars<T> s(args, t);
    auto* p = static_cast<S*>(t.param);
    auto* g = static_cast<S*>(t.grad);
    auto* m = static_cast<S*>(t.state[0]);
    auto* v = static_cast<S*>(t.state[1]);
    auto* vmax = static_cast<S*>(t.state[2]);
    for (int64_t i = begin; i < end; ++i) {
      T pi = static_cast<T>(p[i]), mi = static_cast<T>(m[i]), vi = static_cast<T>(v[i]);
      T gi = load_grad<S, T>(g, i, args.amp.grad_scale);
      if (args.amsgrad) {
        T wi = static_cast<T>(vmax[i]);
        fused::adam_element<T>(s, has_wd, pi, gi, mi, vi, &wi);
        vmax[i] = static_cast<S>(wi);
      } else {
        fused::adam_element<T>(s, has_wd, pi, gi, mi, vi, nullptr);
      }
      p[i] = static_cast<S>(pi);
      m[i] = static_cast<S>(mi);
      v[i] = static_cast<S>(vi);
    }
  });
}

template <class S>
void sgd_kernel(const std::vector<FusedTensor>& tensors, const FusedSgdArgs& args) {
  using T = typename math::opmath<S>::type;
  bool has_wd = args.weight_decay != 0.0;
  bool has_momentum = args.momentum != 0.0;
  fused::SgdScalars<T> s(args);
  for_each_chunk(tensors, [&](const FusedTensor& t, int64_t begin, int64_t end) {
    auto* p = static_cast<S*>(t.param);
    auto* g = static_cast<S*>(t.grad);
    auto* buf = static_cast<S*>(t.state[0]);
    for (int64_t i = begin; i < end; ++i) {
      T pi = static_cast<T>(p[i]);
      T gi = load_grad<S, T>(g, i, args.amp.grad_scale);
      if (has_momentum) {
        T bi = static_cast<T>(buf[i]);
        fused::sgd_element<T>(s, has_wd, pi, gi, &bi);
        buf[i] = static_cast<S>(bi);
      } else {
        fused::sgd_element<T>(s, has_wd, pi, gi, nullptr);
      }
      p[i] = static_cast<S>(pi);
    }
  });
}

template <typename Fn>
void dispatch_floating(const char* op, Dtype dtype, Fn&& fn) {
  switch (dtype) {
    case kFloat32: return fn(float{});
    case kFloat64: return fn(double{});
    case kFloat16: return fn(Half{});
    case kBFloat16: return fn(BFloat16{});
    default: raise<TypeError>(op, ": fused kernels support floating point params only, got ", to_string(dtype));
  }
}
}  // namespace

void CpuBackend::fused_adam(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedAdamArgs& args) {
  // found_inf is one flag for the whole bucket: a skipped step touches nothing.
  if (args.amp.found_inf != nullptr && *args.amp.found_inf != 0.0f) return;
  dispatch_floating("fused_adam", dtype, [&](auto tag) { adam_kernel<decltype(tag)>(tensors, args); });
}

void CpuBackend::fused_sgd(Dtype dtype, const std::vector<FusedTensor>& tensors, const FusedSgdArgs& args) {
  if (args.amp.found_inf != nullptr && *args.amp.found_inf != 0.0f) return;
  dispatch_floating("fused_sgd", dtype, [&](auto tag) { sgd_kernel<decltype(tag)>(tensors, args); });
}

}  // namespace descent
