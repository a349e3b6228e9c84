#pragma once
// Internal: the file side that save()/load() (checkpoint.cpp) and
// save_pytorch()/load_pytorch() (optim/pytorch/) share: atomic replacement
// of the target and whole-file reads of untrusted paths.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "optim/checkpoint_format.h"

namespace descent::checkpoint {

// Streams what produce() writes into a temporary file beside path, fsyncs it
// and renames it over path: path only ever holds the old file or the whole
// new one (docs/checkpoint-format.md, "Writing"). op names the caller in
// error messages.
void write_atomically(const std::filesystem::path& path, const char* op, const std::function<void(Sink&)>& produce);

// The bytes of the regular file at path (RuntimeError naming op and path if
// it cannot be read), after removing stale temporaries of saves to it.
std::vector<uint8_t> read_checkpoint_file(const std::filesystem::path& path, const char* op);

// "'path'", as error messages quote paths.
std::string quoted_path(const std::filesystem::path& path);

}  // namespace descent::checkpoint
