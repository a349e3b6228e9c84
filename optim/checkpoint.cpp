// save / load / serialize / deserialize: the file side of checkpoints. The
// format itself lives in checkpoint_encode.cpp and checkpoint_decode.cpp.
#include "descent/optim/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <string_view>
#include <unordered_set>

#include "optim/checkpoint_file.h"
#include "optim/checkpoint_format.h"

namespace descent {

namespace {

namespace fs = std::filesystem;

// Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "'" + string.
std::string quoted(const fs::path& p) {
  std::string out(1, '\'');
  out += p.string();
  out += '\'';
  return out;
}
std::string system_error() { return std::strerror(errno); }


// ---- temporary files ----
//
// save() writes `.<name>.tmp-<pid>-<counter>` beside the target: the writer's
// process id, and a number unique within that process. A save killed midway
// leaves its temporary file behind; the next save() or load() of the same
// target removes the ones that are stale: the writer was this process and
// is no longer writing (its counter is not in live_counters()), or the
// writer's process no longer exists (kill(pid, 0) fails with ESRCH). Writers
// also hold an flock() on their file while writing, so a live writer that the
// pid test cannot see (another PID namespace sharing the directory) keeps its
// file. Nothing else is touched: only regular files, only in the target's
// directory, only names of exactly that form.

std::string temp_prefix(const fs::path& target) {
  std::string out(1, '.');
  out += target.filename().string();
  out += ".tmp-";
  return out;
}

// The counters of this process's saves that are writing now.
struct LiveCounters {
  std::mutex mutex;
  std::unordered_set<uint64_t> counters;
};
LiveCounters& live_counters() {
  static LiveCounters* live = new LiveCounters();  // never destroyed: saves may run during static destruction
  return *live;
}

// A decimal number exactly as std::to_string writes it (no sign, no leading zeros).
template <typename T>
std::optional<T> parse_decimal(std::string_view text) {
  T value{};
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The writer of a temporary file named `<prefix><pid>-<counter>`, or nullopt for any other name.
struct TempOwner {
  pid_t pid;
  uint64_t counter;
};
std::optional<TempOwner> temp_owner(std::string_view name, std::string_view prefix) {
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view suffix = name.substr(prefix.size());
  const std::size_t dash = suffix.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto pid = parse_decimal<int32_t>(suffix.substr(0, dash));
  const auto counter = parse_decimal<uint64_t>(suffix.substr(dash + 1));
  if (!pid || *pid <= 0 || !counter) return std::nullopt;
  return TempOwner{static_cast<pid_t>(*pid), *counter};
}

bool writer_gone(const TempOwner& owner) {
  if (owner.pid == ::getpid()) {
    LiveCounters& live = live_counters();
    std::lock_guard lock(live.mutex);
    return live.counters.count(owner.counter) == 0;
  }
  return ::kill(owner.pid, 0) != 0 && errno == ESRCH;
}

// Removes the stale temporary files of target's saves. Best effort and
// silent: cleaning up never makes a save or load fail.
void remove_stale_temp_files(const fs::path& target) noexcept {
  try {
    if (!target.has_filename()) return;
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const std::string prefix = temp_prefix(target);
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return;
    DIR* listing = ::fdopendir(dir_fd);
    if (listing == nullptr) {
      ::close(dir_fd);
      return;
    }
    std::vector<std::string> stale;
    while (const dirent* entry = ::readdir(listing)) {
      const std::optional<TempOwner> owner = temp_owner(entry->d_name, prefix);
      if (owner && writer_gone(*owner)) stale.emplace_back(entry->d_name);
    }
    for (const std::string& name : stale) {
      // Never follows a link, never blocks on a FIFO; only a regular file nobody holds locked.
      const int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) continue;
      struct stat opened {}, named {};
      if (::fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
          ::fstatat(dir_fd, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 && named.st_dev == opened.st_dev &&
          named.st_ino == opened.st_ino)
        ::unlinkat(dir_fd, name.c_str(), 0);
      ::close(fd);
    }
    ::closedir(listing);  // closes dir_fd
  } catch (...) {
  }
}

// A buffered temporary file beside the target that replaces it on commit()
// and is removed if destroyed uncommitted, so the target only ever holds the
// old checkpoint or the complete new one.
class AtomicFile final : public checkpoint::Sink {
 public:
  AtomicFile(const fs::path& target, const char* op) : target_(target), op_(op) {
    if (!target.has_filename()) raise<ValueError>(op_, ": path ", quoted(target), " does not name a file");
    dir_ = target.has_parent_path() ? target.parent_path() : fs::path(".");
    // O_EXCL makes a name collision (another save racing for the same target) fail and retry, never share a
    // file.
    static std::atomic<uint64_t> counter{std::random_device{}()};
    const std::string prefix = temp_prefix(target) + std::to_string(::getpid()) + "-";
    LiveCounters& live = live_counters();
    for (int attempt = 0; fd_ < 0; ++attempt) {
      counter_ = counter.fetch_add(1);
      temp_ = dir_ / (prefix + std::to_string(counter_));
      {
        // Registered before the file exists, so a cleanup never sees it unregistered.
        std::lock_guard lock(live.mutex);
        live.counters.insert(counter_);
      }
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0) {
        const int error = errno;
        unregister();
        errno = error;
        if (errno != EEXIST || attempt == 100)
          raise<RuntimeError>(op_, ": cannot create a temporary file in ", quoted(dir_), " to write ",
                              quoted(target), ": ", system_error());
      }
    }
    // Marks the file as being written for cleanups in other PID namespaces; released on close or death.
    ::flock(fd_, LOCK_EX | LOCK_NB);
    buffer_.reserve(kBufferSize);
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
    unregister();
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
      raise<RuntimeError>(op_, ": cannot rename the temporary file ", quoted(temp_), " to ", quoted(target_),
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
    raise<RuntimeError>(op_, ": ", what, " failed on the temporary file ", quoted(temp_), " for ",
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

  void unregister() noexcept {
    LiveCounters& live = live_counters();
    std::lock_guard lock(live.mutex);
    live.counters.erase(counter_);
  }

  fs::path target_, dir_, temp_;
  const char* op_;
  uint64_t counter_ = 0;
  int fd_ = -1;
  bool committed_ = false;
  std::vector<uint8_t> buffer_;
};

std::vector<uint8_t> read_file(const fs::path& path, const char* op) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) raise<RuntimeError>(op, ": cannot open checkpoint ", quoted(path), ": ", system_error());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    raise<RuntimeError>(op, ": cannot stat checkpoint ", quoted(path), ": ", system_error());
  if (!S_ISREG(st.st_mode)) raise<RuntimeError>(op, ": checkpoint ", quoted(path), " is not a regular file");
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(static_cast<std::size_t>(st.st_size));
  } catch (const std::bad_alloc&) {
    raise<RuntimeError>(op, ": checkpoint ", quoted(path), " (", st.st_size,
                        " bytes) does not fit in memory");
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) raise<RuntimeError>(op, ": cannot read checkpoint ", quoted(path), ": ", system_error());
    if (got == 0) break;  // shrank while reading: the trailer check reports it
    done += static_cast<std::size_t>(got);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace

namespace checkpoint {

void write_atomically(const fs::path& path, const char* op, const std::function<void(Sink&)>& produce) {
  remove_stale_temp_files(path);
  AtomicFile file(path, op);
  produce(file);
  file.commit();
}

std::vector<uint8_t> read_checkpoint_file(const fs::path& path, const char* op) {
  remove_stale_temp_files(path);
  return read_file(path, op);
}

std::string quoted_path(const fs::path& path) { return quoted(path); }

}  // namespace checkpoint

void save(const Value& obj, const fs::path& path) {
  checkpoint::write_atomically(path, "save", [&](checkpoint::Sink& sink) { checkpoint::encode(obj, sink, "save"); });
}

Value load(const fs::path& path, std::optional<Device> map_location) {
  const std::vector<uint8_t> bytes = checkpoint::read_checkpoint_file(path, "load");
  return checkpoint::decode(bytes, map_location, "load", "checkpoint " + quoted(path));
}

std::vector<uint8_t> serialize(const Value& obj) {
  std::vector<uint8_t> out;
  checkpoint::VectorSink sink(out);
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
