// One epoll event loop per thread: fd readiness, cross-thread posts, timers, end-of-iteration
// flushes and a cached clock.
//
// Level-triggered on purpose. A server reads a bounded amount per socket per wakeup into a
// buffer lent by the thread, so one busy peer cannot starve the others; with level triggering
// an unread socket simply reports again next iteration, with no "still readable" list to keep.
// Write interest is switched on only while output is blocked (backpressure), so the extra
// epoll_ctl calls happen only in that rare case. The coalescing pause (coalesce_wait) relies
// on it too: the look after the pause reports the first look's descriptors again.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <system_error>

#include "wsx/export.hpp"
#include "wsx/io/timeout_wheel.hpp"

namespace wsx::io {

enum class Interest : std::uint8_t { none = 0, read = 1, write = 2, read_write = 3 };

constexpr Interest operator|(Interest a, Interest b) noexcept {
  return static_cast<Interest>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
constexpr bool has(Interest set, Interest bit) noexcept {
  return (static_cast<std::uint8_t>(set) & static_cast<std::uint8_t>(bit)) != 0;
}

struct IoResult;

// Receives the events of one registered fd. A virtual interface rather than std::function:
// dispatch is one indirect call and registering allocates nothing. The destructor is protected
// and not virtual: derive `final`, or give the derived class a virtual destructor.
class WSX_API IoHandler {
 public:
  virtual void on_readable() {}
  virtual void on_writable() {}
  // The fd reported an error (EPOLLERR). Its SO_ERROR is left for the handler: the default
  // reads, which surfaces the error (ECONNRESET, ...) through the normal read path.
  virtual void on_error();
  // Runs once at the end of an iteration in which EventLoop::defer_flush(fd) was called.
  virtual void on_flush() {}
  // Batched sends (EventLoopOptions::batch_sends): a handler with a flush due may be asked for
  // the buffers it would write instead of being called on_flush(). They are written together
  // with other handlers' in one system call, and on_batched_write() reports how it went
  // (`more_may_wait`: the buffers filled all of `out`). Returning 0 means "not now": on_flush()
  // follows instead, after the batch. While filling `out`, nothing may run that could change
  // any handler's output (no application callback): the batch points into it until it is sent.
  virtual std::size_t gather_batched(std::span<std::span<const std::uint8_t>> out) {
    static_cast<void>(out);
    return 0;
  }
  virtual void on_batched_write(const IoResult& result, std::size_t total, bool more_may_wait) {
    static_cast<void>(result), static_cast<void>(total), static_cast<void>(more_may_wait);
  }

 protected:
  ~IoHandler() = default;
};

namespace detail {
struct PostQueue;
}

// Posts to a loop from any thread, and may outlive the loop: posting to a destroyed loop
// drops the task and returns false. Cheap to copy.
class WSX_API LoopHandle {
 public:
  LoopHandle() = default;
  bool post(std::function<void()> task) const;

 private:
  friend class EventLoop;
  explicit LoopHandle(std::shared_ptr<detail::PostQueue> queue) : queue_(std::move(queue)) {}
  std::shared_ptr<detail::PostQueue> queue_;
};

using TimerId = std::uint64_t;  // 0 is never a valid id

inline constexpr std::chrono::microseconds max_coalesce_wait{10'000};

struct WSX_API EventLoopOptions {
  TimeoutWheelOptions timeouts;  // resolution and size of the coarse timeout wheel
  int max_events = 256;          // epoll events handled per wakeup
  // The sends of one iteration's flushes go to the kernel in one io_uring submission instead
  // of one system call per socket, where the kernel offers io_uring (else, and with false,
  // each is written on its own). Same bytes, same order per socket.
  bool batch_sends = true;
  // Throughput over latency, off (0) by default; at most max_coalesce_wait (the constructor
  // throws std::invalid_argument beyond). A wake-up that finds fewer than 16 descriptors ready
  // (connections, listeners) first sleeps this long, then takes all that are ready by then, so
  // that one pass (one epoll_wait, one batch of sends) serves more messages. It saves CPU where
  // many connections keep sending, and adds up to this pause plus the kernel's timer slack
  // (50 us by default) to those messages' latency. A post (stop() included) or a due timer
  // ends the pause at once. Pauses that do not at least double what is ready are skipped for a
  // growing number of wake-ups (up to 1024), so a lone connection seldom pays. A request/
  // response peer with few messages in flight waits on each pause: its throughput drops.
  std::chrono::microseconds coalesce_wait{0};
};

class WSX_API EventLoop {
 public:
  explicit EventLoop(const EventLoopOptions& options = {});
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs iterations until stop(). Call from one thread; handlers, timers and posted tasks run
  // on it. A stop() that came before run() makes run() return after one iteration. Once run()
  // returns the loop may run again.
  // An exception thrown by a handler, a timer or a posted task leaves run() at once: the rest of
  // that iteration is not done. Run again, the loop does what was left due first: the flushes
  // asked for and the posted tasks not run yet (the task that threw is not run again). The
  // writes of a batch (batch_sends) are all reported before an exception from a report leaves.
  // A periodic timer whose callback threw stays scheduled: it fires again at its next period
  // until cancel(); the timers due and not reached yet fire in the next iteration. However
  // run() ends (stop() or an exception), stopping() and in_loop_thread() are false afterwards.
  void run();
  void stop() noexcept;            // any thread
  bool stopping() const noexcept;  // stop() was called and run() has not returned yet
  bool in_loop_thread() const noexcept;

  // Runs `task` on the loop thread, exactly once, in posting order per thread. Any thread.
  // Tasks still queued when the loop is destroyed are dropped without running.
  void post(std::function<void()> task);
  LoopHandle handle() const;
  // For an owner whose loop will not run again: drops the queued tasks and refuses new ones
  // from now on (LoopHandle::post returns false, post() drops the task), so work handed to a
  // loop nobody runs is freed at once instead of piling up until the loop is destroyed.
  void refuse_posts() noexcept;

  // Registration of a non-blocking fd. The handler must outlive the registration; remove()
  // before closing the fd. Events for a removed fd that are already fetched are dropped, so a
  // handler may remove (and destroy) itself or any other handler from a callback.
  std::error_code add(int fd, Interest interest, IoHandler& handler);
  std::error_code modify(int fd, Interest interest);  // no syscall when unchanged
  void remove(int fd) noexcept;
  // remove() for an fd its owner closes right away and that no other descriptor shares (no dup,
  // no fork without exec): the kernel takes a closed file out of the epoll set itself, so this
  // makes no epoll_ctl call — one system call less per connection closed.
  void forget(int fd) noexcept;
  bool registered(int fd) const noexcept;

  // Calls the fd's handler on_flush() once after this iteration's events, timers and posted
  // tasks: writes queued during one iteration leave in one writev per socket.
  void defer_flush(int fd);
  // Writes this loop has made through the io_uring batch (EventLoopOptions::batch_sends): 0
  // where the kernel offers no io_uring or batching is off. Any thread.
  std::uint64_t batched_writes() const noexcept;
  // Pauses taken before handling a wake-up (EventLoopOptions::coalesce_wait). Any thread.
  std::uint64_t coalescing_pauses() const noexcept;

  // The time this iteration began handling events, after any coalescing pause (outside run():
  // when the last one did, or construction).
  Clock::time_point now() const noexcept { return now_; }
  std::uint64_t iterations() const noexcept { return iterations_; }

  // Precise timers (a heap), for things like reconnect backoff and benchmarks.
  TimerId run_after(Clock::duration delay, std::function<void()> callback);
  TimerId run_every(Clock::duration period, std::function<void()> callback);
  bool cancel(TimerId id) noexcept;  // false if it already fired (one-shot) or is unknown
  // Coarse, O(1) per-connection timeouts: arm(idle, 60s) on every message is a field write.
  // `after` counts from now() in an iteration, from the clock outside one (before run()).
  void arm(TimeoutEntry& timeout, Clock::duration after) noexcept;  // (event_loop.cpp: why)
  TimeoutWheel& timeouts() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Clock::time_point now_;
  std::uint64_t iterations_ = 0;
};

}  // namespace wsx::io
