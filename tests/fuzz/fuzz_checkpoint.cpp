// libFuzzer target for the checkpoint reader (build and run:
// tests/fuzz/run_fuzzer.sh). Every input must either load or raise a
// descent::Error; anything else (a crash, a sanitizer report, another
// exception, a hang, a huge allocation) is a bug. Each input is tried as
// given, which exercises the frame checks, and with its trailer rewritten to
// match, which lets mutations past the checksum into the parser. What loads
// and looks like an optimizer state dict then goes through load_state_dict
// and step() of a fused Adam, a forloop Adam and an SGD with momentum
// (fuzz/optimizer_feed.h), where again only a descent::Error may come out.
#include <cstdlib>

#include "descent/optim/checkpoint.h"
#include "fuzz/checkpoint_testing.h"
#include "fuzz/optimizer_feed.h"

namespace {

void check(const std::vector<uint8_t>& bytes) {
  try {
    // map_location: build every tensor, including those saved from CUDA.
    const descent::Value value = descent::deserialize(bytes, descent::Device(descent::kCPU));
    // What loads must re-serialize to a stable form.
    const std::vector<uint8_t> again = descent::serialize(value);
    if (descent::serialize(descent::deserialize(again)) != again) std::abort();
    descent::testing::feed_optimizers(value);
  } catch (const descent::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  check(bytes);
  descent::testing::fix_trailer(bytes);
  check(bytes);
  return 0;
}
