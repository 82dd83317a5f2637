#include "connect_stdin.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <utility>

namespace wsx::tool {
namespace {

constexpr std::size_t read_chunk_size = 64 * 1024;

}  // namespace

StdinReader::StdinReader(io::EventLoop& loop, Handlers handlers, Framing framing)
    : loop_(loop), handlers_(std::move(handlers)), framing_(framing) {}

StdinReader::StdinReader(io::EventLoop& loop, std::function<void()> readable)
    : loop_(loop), readable_(std::move(readable)) {}

StdinReader::~StdinReader() {
  *alive_ = false;
  stop();
}

void StdinReader::start() {
  stopped_ = false;
  paused_ = false;
  if (!loop_.add(STDIN_FILENO, io::Interest::read, *this)) {
    registered_ = true;
    return;
  }
  schedule_chunk();  // EPERM: a regular file or /dev/null, which is always "ready"
}

void StdinReader::pause() {
  if (stopped_ || paused_) return;
  paused_ = true;
  if (registered_) loop_.modify(STDIN_FILENO, io::Interest::none);
}

void StdinReader::resume() {
  if (stopped_ || !paused_) return;
  paused_ = false;
  if (registered_) loop_.modify(STDIN_FILENO, io::Interest::read);
  // Lines already read go first; then the next chunk (unpollable stdin) or the EOF.
  loop_.post([this, alive = alive_] {
    if (!*alive) return;
    process();
    if (!registered_ && !stopped_ && !paused_ && !end_of_input_) schedule_chunk();
  });
}

void StdinReader::stop() {
  stopped_ = true;
  if (registered_) loop_.remove(STDIN_FILENO);
  registered_ = false;
}

void StdinReader::schedule_chunk() {
  if (polled_) return;
  polled_ = true;
  loop_.post([this, alive = alive_] {
    if (!*alive) return;
    polled_ = false;
    if (!stopped_ && !paused_) read_chunk();
  });
}

void StdinReader::on_readable() {
  if (readable_) {
    readable_();
    return;
  }
  read_chunk();
}

void StdinReader::read_chunk() {
  std::array<char, read_chunk_size> buffer;
  const ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
    if (!registered_) schedule_chunk();
    return;
  }
  if (n <= 0) {
    end_of_input_ = true;
    if (registered_) loop_.remove(STDIN_FILENO);
    registered_ = false;
  } else {
    input_.append(buffer.data(), static_cast<std::size_t>(n));
  }
  process();
  if (!registered_ && !stopped_ && !paused_ && !end_of_input_) schedule_chunk();
}

void StdinReader::process() {
  const std::shared_ptr<bool> alive = alive_;
  std::size_t start = 0;
  std::size_t searched = 0;  // bytes of the partial line left that hold no newline
  while (!paused_ && !stopped_) {
    const std::size_t newline =
        framing_.whole ? std::string::npos : input_.find('\n', std::max(start, scanned_));
    const std::size_t length = (newline == std::string::npos ? input_.size() : newline) - start;
    if (length > framing_.limit) {
      stop();
      input_.clear();
      if (handlers_.too_long) handlers_.too_long();
      return;
    }
    std::string line;
    if (newline != std::string::npos) {
      line = input_.substr(start, newline - start);
      if (framing_.strip_cr && !line.empty() && line.back() == '\r') line.pop_back();
      start = newline + 1;
    } else if (end_of_input_ && (start < input_.size() || (framing_.whole && !whole_sent_))) {
      line = input_.substr(start);  // the last line, without a newline, or all of stdin
      start = input_.size();
      whole_sent_ = true;
    } else {
      searched = input_.size() - start;  // all of the partial line was searched
      break;
    }
    handlers_.line(line);
    if (!*alive) return;
  }
  input_.erase(0, start);
  // A long line arrives in many chunks: each is searched once, not the whole line again.
  scanned_ = searched;
  if (end_of_input_ && input_.empty() && !stopped_ && !paused_) {
    stop();
    if (handlers_.end) handlers_.end();
  }
}

}  // namespace wsx::tool
