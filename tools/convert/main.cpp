// descent-convert: converts checkpoints between PyTorch's torch.save format
// and descent's own (docs/pytorch-format.md, "descent-convert").
//
//   descent-convert adam.pt adam.dckpt      # PyTorch -> descent
//   descent-convert run.dckpt run.pt        # descent -> PyTorch (torch.load(weights_only=True) reads it)
//
// The input's format is recognised from its first bytes; the output's from
// its extension (.pt, .pth: PyTorch; .dckpt: descent) or --to. Tensors are
// loaded on the CPU, whatever device they were saved from.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "descent/optim/checkpoint.h"
#include "descent/optim/pytorch_format.h"

namespace {

enum class Format { PyTorch, Descent };

const char* kUsage =
    "usage: descent-convert [--to pytorch|descent] INPUT OUTPUT\n"
    "Converts a checkpoint between PyTorch's torch.save format (.pt, .pth) and descent's (.dckpt).\n";

Format input_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw descent::RuntimeError("descent-convert: cannot open '" + path + "'");
  char head[4] = {};
  in.read(head, 4);
  if (std::memcmp(head, "PK\x03\x04", 4) == 0) return Format::PyTorch;
  if (static_cast<unsigned char>(head[0]) == 0x89 && std::memcmp(head + 1, "DCK", 3) == 0) return Format::Descent;
  throw descent::ValueError("descent-convert: '" + path +
                            "' is neither a torch.save zip archive nor a descent checkpoint (by its first bytes)");
}

Format output_format(const std::string& path, const std::string& to) {
  if (to == "pytorch") return Format::PyTorch;
  if (to == "descent") return Format::Descent;
  if (!to.empty()) throw descent::ValueError("descent-convert: --to " + to + " (must be pytorch or descent)");
  const std::string ext = path.rfind('.') == std::string::npos ? "" : path.substr(path.rfind('.'));
  if (ext == ".pt" || ext == ".pth") return Format::PyTorch;
  if (ext == ".dckpt") return Format::Descent;
  throw descent::ValueError("descent-convert: cannot tell the output format from '" + path +
                            "' (use .pt, .pth or .dckpt, or --to)");
}

}  // namespace

int main(int argc, char** argv) {
  std::string to;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--to" && i + 1 < argc) {
      to = argv[++i];
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.size() != 2) {
    std::cerr << kUsage;
    return 2;
  }
  try {
    const descent::Device cpu(descent::kCPU);
    const Format in = input_format(paths[0]), out = output_format(paths[1], to);
    const descent::Value value =
        in == Format::PyTorch ? descent::load_pytorch(paths[0], cpu) : descent::load(paths[0], cpu);
    if (out == Format::PyTorch) {
      descent::save_pytorch(value, paths[1]);
    } else {
      descent::save(value, paths[1]);
    }
  } catch (const descent::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
