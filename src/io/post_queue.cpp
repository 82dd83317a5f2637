#include "post_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace wsx::io::detail {
namespace {

int make_event_fd() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "eventfd");
  return fd;
}

}  // namespace

PostQueue::PostQueue() : event_fd(make_event_fd()) {}

// The eventfd lives as long as the last LoopHandle, so a racing wake() never writes to a
// closed (or reused) descriptor.
PostQueue::~PostQueue() {
  ::close(event_fd);
}

bool PostQueue::push(std::function<void()> task) {
  {
    std::lock_guard lock(mutex);
    if (closed) return false;
    tasks.push_back(std::move(task));
  }
  wake();
  return true;
}

void PostQueue::wake() noexcept {
  if (wake_pending.exchange(true)) return;
  const std::uint64_t one = 1;
  // Only EAGAIN (counter saturated) can fail here, and then a wakeup is pending anyway.
  [[maybe_unused]] const auto written = ::write(event_fd, &one, sizeof one);
}

void PostQueue::drain(std::vector<std::function<void()>>& out) {
  // Order matters. Reset the eventfd first, then clear the flag, then take the tasks: a post
  // that saw the flag still set pushed its task before we take the batch, and a post after
  // the flag is cleared writes the eventfd again. (Clearing the flag before the read could
  // swallow that write and leave a task waiting with the flag stuck on.)
  std::uint64_t count = 0;
  [[maybe_unused]] const auto got = ::read(event_fd, &count, sizeof count);
  wake_pending.store(false);
  std::lock_guard lock(mutex);
  if (out.empty()) {
    out.swap(tasks);
  } else {
    for (auto& task : tasks) out.push_back(std::move(task));
    tasks.clear();
  }
}

void PostQueue::close() noexcept {
  std::vector<std::function<void()>> dropped;
  std::lock_guard lock(mutex);
  closed = true;
  dropped.swap(tasks);
}

}  // namespace wsx::io::detail
