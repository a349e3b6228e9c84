#pragma once
// PyTorch's torch.save files (the zip format of PyTorch >= 1.6), read and
// written natively: optimizer and module state dicts and tensors cross
// between PyTorch and descent without Python.
//
//   // Python: torch.save(opt.state_dict(), "adam.pt")
//   opt.load_state_dict(descent::load_pytorch("adam.pt").to_dict());
//   descent::save_pytorch(opt.state_dict(), "back.pt");  // torch.load(..., weights_only=True)
//
// Loading reads what torch.load(weights_only=True) accepts for descent's
// Value types and nothing else: dicts (int or str keys), OrderedDict,
// lists, tuples, None, bool, int, float, str and dense tensors of bool,
// int64, float16, bfloat16, float32, float64, complex64 and complex128. No
// code in the file is executed: any other global (os.system, builtins.eval,
// a class's __reduce__) is a ValueError naming it. Every length, offset,
// memo index, shape and stride is checked against the bytes present, so a
// truncated, corrupted or malicious file raises a descent::Error, never
// crashes (docs/pytorch-format.md lists the rules and the guarantees).
//
// Python ints map to int64 (larger ones are refused), floats to double,
// tuples to Value::tuple. Tensors that share a storage load sharing memory
// when their layout is contiguous; a strided view (a transpose, a slice with
// a step) is copied into a contiguous tensor, as descent keeps every tensor
// contiguous. The same tensor object used twice loads as one handle.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "descent/optim/value.h"

namespace descent {

// Reads a torch.save file. Tensors go to the device they were saved from
// ("cpu", "cuda", "cuda:N"), or to map_location when given. Throws
// ValueError for a file that is not a valid or allowed torch.save archive,
// NotImplementedError for PyTorch features descent lacks (sparse tensors,
// other dtypes, compressed entries), DeviceError when a saved CUDA device is
// unavailable and no map_location is given, RuntimeError when the file
// cannot be read.
Value load_pytorch(const std::filesystem::path& path, std::optional<Device> map_location = std::nullopt);

// Writes value as torch.save does (protocol-2 pickle in a stored zip), atomically
// like descent::save. Dicts are written as Python dicts, tuples as tuples,
// an undefined Tensor as None. Tensors sharing memory share one storage in
// the file. Throws NotImplementedError for a sparse tensor, ValueError for a
// string that is not UTF-8 or nesting deeper than 64, RuntimeError on I/O
// failure.
void save_pytorch(const Value& value, const std::filesystem::path& path);

// In-memory forms (torch.save / torch.load on an io.BytesIO).
std::vector<uint8_t> serialize_pytorch(const Value& value);
Value deserialize_pytorch(std::span<const uint8_t> bytes, std::optional<Device> map_location = std::nullopt);

}  // namespace descent
