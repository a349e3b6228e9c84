// save / load / serialize / deserialize: the file side of checkpoints. The
// format itself lives in checkpoint_encode.cpp and checkpoint_decode.cpp.
#include "descent/optim/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <random>

#include "optim/checkpoint_format.h"

namespace descent {

namespace {

namespace fs = std::filesystem;

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }
std::string system_error() { return std::strerror(errno); }

class VectorSink : public checkpoint::Sink {
 public:
  explicit VectorSink(std::vector<uint8_t>& out) : out_(out) {}
  void write(const uint8_t* data, std::size_t n) override { out_.insert(out_.end(), data, data + n); }

 private:
  std::vector<uint8_t>& out_;
};

// A buffered temporary file beside the target that replaces it on commit()
// and is removed if destroyed uncommitted, so the target only ever holds the
// old checkpoint or the complete new one.
class AtomicFile : public checkpoint::Sink {
 public:
  explicit AtomicFile(const fs::path& target) : target_(target) {
    if (!target.has_filename()) raise<ValueError>("save: path ", quoted(target), " does not name a file");
    dir_ = target.has_parent_path() ? target.parent_path() : fs::path(".");
    // O_EXCL makes a name collision (another save racing for the same target) fail and retry, never share a
    // file.
    static std::atomic<uint64_t> counter{std::random_device{}()};
    for (int attempt = 0; fd_ < 0; ++attempt) {
      temp_ = dir_ / ("." + target.filename().string() + ".tmp-" + std::to_string(counter.fetch_add(1)));
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && (errno != EEXIST || attempt == 100))
        raise<RuntimeError>("save: cannot create a temporary file in ", quoted(dir_), " to write ",
                            quoted(target), ": ", system_error());
    }
    buffer_.reserve(kBufferSize);
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  void write(const uint8_t* data, std::size_t n) override {
    if (buffer_.size() + n > kBufferSize) flush();
    if (n >= kBufferSize) {
      write_fully(data, n);
    } else {
      buffer_.insert(buffer_.end(), data, data + n);
    }
  }

  void commit() {
    flush();
    if (::fsync(fd_) != 0) fail("fsync");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close");
    if (::rename(temp_.c_str(), target_.c_str()) != 0)
      raise<RuntimeError>("save: cannot rename the temporary file ", quoted(temp_), " to ", quoted(target_),
                          ": ", system_error());
    committed_ = true;
    // Makes the rename itself durable. Best effort: the new checkpoint is already
    // in place, and some file systems cannot fsync a directory.
    if (int dir = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }

 private:
  static constexpr std::size_t kBufferSize = std::size_t{1} << 20;

  [[noreturn]] void fail(const char* what) const {
    raise<RuntimeError>("save: ", what, " failed on the temporary file ", quoted(temp_), " for ",
                        quoted(target_), ": ", system_error());
  }
  void flush() {
    write_fully(buffer_.data(), buffer_.size());
    buffer_.clear();
  }
  void write_fully(const uint8_t* data, std::size_t n) {
    while (n > 0) {
      const ssize_t written = ::write(fd_, data, n);
      if (written < 0) {
        if (errno == EINTR) continue;
        fail("write");
      }
      data += written;
      n -= static_cast<std::size_t>(written);
    }
  }

  fs::path target_, dir_, temp_;
  int fd_ = -1;
  bool committed_ = false;
  std::vector<uint8_t> buffer_;
};

std::vector<uint8_t> read_file(const fs::path& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) raise<RuntimeError>("load: cannot open checkpoint ", quoted(path), ": ", system_error());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    raise<RuntimeError>("load: cannot stat checkpoint ", quoted(path), ": ", system_error());
  if (!S_ISREG(st.st_mode)) raise<RuntimeError>("load: checkpoint ", quoted(path), " is not a regular file");
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(static_cast<std::size_t>(st.st_size));
  } catch (const std::bad_alloc&) {
    raise<RuntimeError>("load: checkpoint ", quoted(path), " (", st.st_size,
                        " bytes) does not fit in memory");
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) raise<RuntimeError>("load: cannot read checkpoint ", quoted(path), ": ", system_error());
    if (got == 0) break;  // shrank while reading: the trailer check reports it
    done += static_cast<std::size_t>(got);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace

void save(const Value& obj, const fs::path& path) {
  AtomicFile file(path);
  checkpoint::encode(obj, file, "save");
  file.commit();
}

Value load(const fs::path& path, std::optional<Device> map_location) {
  const std::vector<uint8_t> bytes = read_file(path);
  return checkpoint::decode(bytes, map_location, "load", "checkpoint " + quoted(path));
}

std::vector<uint8_t> serialize(const Value& obj) {
  std::vector<uint8_t> out;
  VectorSink sink(out);
  checkpoint::encode(obj, sink, "serialize");
  return out;
}

Value deserialize(std::span<const uint8_t> bytes, std::optional<Device> map_location) {
  return checkpoint::decode(bytes, map_location, "deserialize", "checkpoint buffer");
}

Value to_value(const nn::NamedTensors& state) {
  Dict dict;
  for (const auto& [name, tensor] : state) dict.set(name, tensor);
  return dict;
}

nn::NamedTensors to_named_tensors(const Value& state) {
  nn::NamedTensors out;
  for (const auto& [key, value] : state.to_dict()) {
    const auto* name = std::get_if<std::string>(&key);
    if (name == nullptr)
      raise<TypeError>("to_named_tensors: key ", key_to_string(key),
                       " is not a string (a module's state dict maps parameter and buffer names to tensors)");
    if (!value.is_tensor())
      raise<TypeError>("to_named_tensors: the value of '", *name, "' is a ", value.type_name(),
                       ", not a Tensor");
    out.emplace_back(*name, value.to_tensor());
  }
  return out;
}

}  // namespace descent
