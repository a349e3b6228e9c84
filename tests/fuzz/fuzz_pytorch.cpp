// libFuzzer target for the torch.save reader (build and run:
// tests/fuzz/run_fuzzer.sh). Every input must either load or raise a
// descent::Error; anything else (a crash, a sanitizer report, another
// exception, a hang, a huge allocation) is a bug. Each input is tried as a
// whole archive, which exercises the zip checks, and as the data.pkl of an
// otherwise valid archive (with storage records "0" to "7" of 64 bytes
// each), which lets mutations past the zip's CRC-32s into the unpickler and
// the tensor checks. What loads must save and load again to the same bytes,
// and goes through load_state_dict and step() of the optimizers of
// fuzz/optimizer_feed.h, where again only a descent::Error may come out.
#include <cstdlib>

#include "descent/optim/pytorch_format.h"
#include "fuzz/optimizer_feed.h"
#include "pytorch_format_testing.h"

namespace {

void check(const std::vector<uint8_t>& bytes) {
  try {
    const descent::Value value = descent::deserialize_pytorch(bytes, descent::Device(descent::kCPU));
    const std::vector<uint8_t> again = descent::serialize_pytorch(value);
    if (descent::serialize_pytorch(descent::deserialize_pytorch(again)) != again) std::abort();
    descent::testing::feed_optimizers(value);
  } catch (const descent::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  check(bytes);
  std::vector<std::pair<std::string, std::vector<uint8_t>>> storages;
  for (int k = 0; k < 8; ++k) storages.emplace_back(std::to_string(k), std::vector<uint8_t>(64, uint8_t(k)));
  check(descent::testing::pickle_archive(std::string(bytes.begin(), bytes.end()), std::move(storages)));
  return 0;
}
