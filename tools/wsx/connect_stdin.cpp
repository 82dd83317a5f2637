#include "connect_stdin.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <utility>

namespace wsx::tool {
namespace {

constexpr std::size_t read_chunk_size = 64 * 1024;

}  // namespace

StdinReader::StdinReader(io::EventLoop& loop, Handlers handlers)
    : loop_(loop), handlers_(std::move(handlers)) {}

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
  while (!paused_ && !stopped_) {
    const std::size_t newline = input_.find('\n', start);
    std::string line;
    if (newline != std::string::npos) {
      line = input_.substr(start, newline - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      start = newline + 1;
    } else if (input_.size() - start >= max_line || (end_of_input_ && start < input_.size())) {
      line = input_.substr(start, max_line);  // a piece of a long line, or the last line
      start += line.size();
    } else {
      break;
    }
    handlers_.line(line);
    if (!*alive) return;
  }
  input_.erase(0, start);
  if (end_of_input_ && input_.empty() && !stopped_ && !paused_) {
    stop();
    if (handlers_.end) handlers_.end();
  }
}

}  // namespace wsx::tool
