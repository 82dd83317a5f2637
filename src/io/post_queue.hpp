// Cross-thread task queue of one event loop, woken through an eventfd. Shared with LoopHandle so
// posting stays safe after the loop is gone (the task is then dropped).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

namespace wsx::io::detail {

struct PostQueue {
  PostQueue();  // throws std::system_error if no eventfd can be created
  ~PostQueue();
  PostQueue(const PostQueue&) = delete;
  PostQueue& operator=(const PostQueue&) = delete;

  bool push(std::function<void()> task);  // false once closed
  // Writes the eventfd unless a wakeup is already on its way: a burst of posts costs one write.
  void wake() noexcept;
  // Takes every queued task (appends to `out`) and re-arms wake(). Loop thread only.
  void drain(std::vector<std::function<void()>>& out);
  void close() noexcept;  // the loop is going away: drop tasks, refuse new ones

  const int event_fd;
  std::mutex mutex;
  std::vector<std::function<void()>> tasks;  // guarded by mutex
  bool closed = false;                       // guarded by mutex
  std::atomic<bool> wake_pending{false};
};

}  // namespace wsx::io::detail
