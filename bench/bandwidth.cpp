// bench/bandwidth: the memory-bandwidth roof. STREAM copy/scale/add/triad and
// the in-place Adam traffic pattern, for 1..N threads, as GB/s (median).
//   ./build/bench/bandwidth [elements=16777216]
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "bench/memory_probe.h"

int main(int argc, char** argv) {
  int64_t n = argc > 1 ? std::atoll(argv[1]) : (int64_t{1} << 24);
  int max_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bench::Arrays x(n);
  std::printf("bandwidth probe: %lld floats per array (%.0f MiB), median of 15 runs, GB/s\n",
              static_cast<long long>(n), static_cast<double>(n) * 4 / (1 << 20));
  std::printf("%8s %10s %10s %10s %10s %12s\n", "threads", "copy", "scale", "add", "triad", "adam(4r3w)");
  for (int t = 1; t <= max_threads; ++t) {
    descent::set_num_threads(t);
    std::printf("%8d %10.2f %10.2f %10.2f %10.2f %12.2f\n", t, bench::gbps(x, bench::copy, bench::kCopyBytes),
                bench::gbps(x, bench::scale, bench::kScaleBytes), bench::gbps(x, bench::add, bench::kAddBytes),
                bench::gbps(x, bench::triad, bench::kTriadBytes), bench::gbps(x, bench::optimizer_pattern<2>, bench::optimizer_bytes(2)));
  }
  return 0;
}
