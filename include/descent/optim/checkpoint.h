#pragma once
// Checkpoint files: torch.save / torch.load for descent. Any Value — an
// optimizer's or scheduler's state_dict(), a module's state as a Dict of
// name -> Tensor, or a Dict bundling several of them — is stored in the
// versioned little-endian binary format of docs/checkpoint-format.md.
//
//   descent::save(Dict{{"model", to_value(model.state_dict())}, {"optim", opt.state_dict()}}, "run.dckpt");
//   Dict ckpt = descent::load("run.dckpt").to_dict();
//   model.load_state_dict(to_named_tensors(ckpt.at("model")));
//   opt.load_state_dict(ckpt.at("optim").to_dict());
//
// Loading is safe on untrusted files (like torch.load(weights_only=True)):
// only data is stored, never code, and a truncated, corrupted or malicious
// file raises a descent::Error naming the file, the byte offset and the rule
// it breaks, never a crash, a hang or an allocation larger than the file.
//
// Round trips are bit-exact: tensor bytes (NaN payloads, -0.0, subnormals)
// and floats are stored as raw bits. A tensor handle appearing several times
// is stored once and loads as one handle; tensors sharing memory (views)
// load sharing memory. Loaded tensors keep dtype, shape, layout (dense or
// sparse COO), coalesced flag and requires_grad, and are autograd leaves.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "descent/autograd/nn/module.h"
#include "descent/optim/value.h"

namespace descent {

// Writes obj to path atomically: the bytes go to a temporary file in the same
// directory, which is fsync'ed and then renamed over path, so a crash or an
// error mid-save never leaves a partial file and never destroys the previous
// checkpoint (the temporary file is removed on error; one left by a killed
// save is removed by the next save() or load() of the same path, see
// docs/checkpoint-format.md). Throws ValueError
// when obj exceeds the format's limits (nesting deeper than 64, more than 64
// dims) and RuntimeError naming the path and the system error on I/O
// failure.
void save(const Value& obj, const std::filesystem::path& path);

// Reads a checkpoint written by save(). Tensors go to the device they were
// saved from, or to map_location when given (torch.load's map_location).
// Throws ValueError for a file that is not a valid checkpoint, DeviceError
// when a saved device is unavailable and no map_location is given, and
// RuntimeError when the file cannot be read.
Value load(const std::filesystem::path& path, std::optional<Device> map_location = std::nullopt);

// In-memory forms of save() and load() (torch.save / torch.load on an
// io.BytesIO): the same bytes a checkpoint file holds.
std::vector<uint8_t> serialize(const Value& obj);
Value deserialize(std::span<const uint8_t> bytes, std::optional<Device> map_location = std::nullopt);

// A module's state_dict() as a Dict of name -> Tensor (Python's OrderedDict),
// to save alone or inside a larger checkpoint; and back, for
// Module::load_state_dict. to_named_tensors throws TypeError for a value that
// is not a dict of string keys and tensor values.
Value to_value(const nn::NamedTensors& state);
nn::NamedTensors to_named_tensors(const Value& state);

}  // namespace descent
