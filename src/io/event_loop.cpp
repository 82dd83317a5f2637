#include "wsx/io/event_loop.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "coalescing_wait.hpp"
#include "post_queue.hpp"
#include "send_batch.hpp"
#include "timer_queue.hpp"
#include "wsx/io/tcp_socket.hpp"

namespace wsx::io {
namespace {

// epoll_event.data of the post queue's eventfd; fds are registered as (generation << 32 | fd)
// and generations start at 1, so this value is never a registration.
constexpr std::uint64_t post_queue_token = 0xffffffffu;

std::error_code last_error() {
  return {errno, std::system_category()};
}

std::uint32_t epoll_mask(Interest interest) {
  std::uint32_t mask = 0;
  if (has(interest, Interest::read)) mask |= EPOLLIN;
  if (has(interest, Interest::write)) mask |= EPOLLOUT;
  return mask;
}

}  // namespace

void IoHandler::on_error() {
  on_readable();
}

bool LoopHandle::post(std::function<void()> task) const {
  return queue_ != nullptr && queue_->push(std::move(task));
}

struct EventLoop::Impl {
  struct Slot {
    IoHandler* handler = nullptr;
    std::uint32_t generation = 0;
    Interest interest = Interest::none;
    bool flush_queued = false;
    bool in_epoll = false;  // in the kernel's set: interest none may still be, until parked ones go
    bool parked = false;    // in `parked`: interest none, taken out of the set before the next wait
  };
  struct Flush {
    int fd;
    std::uint32_t generation;
  };

  explicit Impl(const EventLoopOptions& options, Clock::time_point start)
      : wheel(start, options.timeouts),
        events(std::max(options.max_events, 1)),
        batch_sends(options.batch_sends),
        coalescing(options.coalesce_wait) {}

  Slot* find(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= slots.size()) return nullptr;
    Slot& slot = slots[fd];
    return slot.handler != nullptr ? &slot : nullptr;
  }
  bool current(int fd, std::uint32_t generation) noexcept {
    const Slot* slot = find(fd);
    return slot != nullptr && slot->generation == generation;
  }
  std::error_code control(int op, int fd, const Slot& slot) {
    epoll_event event{};
    event.events = epoll_mask(slot.interest);
    event.data.u64 = (std::uint64_t{slot.generation} << 32) | static_cast<std::uint32_t>(fd);
    if (::epoll_ctl(epoll_fd, op, fd, &event) != 0) return last_error();
    return {};
  }
  void dispatch(const epoll_event& event);
  void run_posts();
  void run_flushes();
  void flush_one_by_one();
  void batch_flushes();
  void requeue_unbatched(std::size_t first);
  void unpark();
  int pause_and_look_again(int ready, std::optional<Clock::time_point> wake);
  bool post_ready(int count) const noexcept;

  int epoll_fd = -1;
  std::shared_ptr<detail::PostQueue> posts = std::make_shared<detail::PostQueue>();
  std::vector<std::function<void()>> running_posts;
  std::vector<Slot> slots;
  std::uint32_t next_generation = 1;
  std::vector<Flush> flushes;
  std::vector<Flush> running_flushes;
  std::vector<Flush> unbatched;  // batch_flushes(): handlers that flush the usual way
  detail::SendBatch batch;
  std::vector<detail::SendBatch::Write> reports;  // batch_flushes(): the batch's outcomes
  // Fds whose interest became none this iteration. Taking one out of the epoll set waits until
  // just before the next epoll_wait (no event can come before that): a connection that stops
  // reading at EOF and is closed in the same iteration then costs no epoll_ctl at all, since
  // close() takes it out of the set itself (forget()).
  std::vector<Flush> parked;
  detail::TimerQueue timers;
  TimeoutWheel wheel;
  std::vector<epoll_event> events;
  std::atomic<bool> stop{false};
  std::atomic<std::thread::id> thread{};
  bool posts_ready = false;
  bool batch_sends;                   // EventLoopOptions::batch_sends
  detail::CoalescingWait coalescing;  // EventLoopOptions::coalesce_wait
  // In an iteration: now_ is its wake-up time. Outside (before run(), between runs) it may be
  // long past, and arm() reads the clock instead.
  bool iterating = false;
};

void EventLoop::Impl::dispatch(const epoll_event& event) {
  if (event.data.u64 == post_queue_token) {
    posts_ready = true;
    return;
  }
  const int fd = static_cast<int>(event.data.u64 & 0xffffffffu);
  const auto generation = static_cast<std::uint32_t>(event.data.u64 >> 32);
  Slot* slot = find(fd);
  if (slot == nullptr || slot->generation != generation) return;  // removed this iteration
  IoHandler* handler = slot->handler;
  const std::uint32_t ready = event.events;
  if ((ready & EPOLLERR) != 0) {
    handler->on_error();
    return;
  }
  // A hang-up is reported whatever the interest; it goes to the side the handler watches,
  // where a read returns 0 or a write fails.
  const bool reading = has(slot->interest, Interest::read);
  if ((ready & EPOLLIN) != 0 || ((ready & EPOLLHUP) != 0 && reading)) {
    handler->on_readable();
    if (!current(fd, generation)) return;
  }
  if ((ready & EPOLLOUT) != 0 || ((ready & EPOLLHUP) != 0 && !reading)) handler->on_writable();
}

void EventLoop::Impl::run_posts() {
  for (std::size_t i = 0; i < running_posts.size(); ++i) {
    try {
      running_posts[i]();
    } catch (...) {
      // The exception leaves run(). The tasks that ran (and this one) are done; the others run
      // in the next iteration, ahead of newer ones (drain() appends those). Left here whole,
      // every task of the drain would have run again.
      running_posts.erase(running_posts.begin(),
                          running_posts.begin() + static_cast<std::ptrdiff_t>(i + 1));
      posts_ready = !running_posts.empty();
      throw;
    }
  }
  running_posts.clear();
}

void EventLoop::Impl::run_flushes() {
  // A flush may queue another (a handler writing to a peer it relays to): repeat until quiet.
  while (!flushes.empty()) {
    running_flushes.swap(flushes);
    // Also when a handler throws (the exception leaves run()): the flushes of this round still
    // due are back in `flushes` by then, and stale entries here would only be run through again.
    const struct Done {
      std::vector<Flush>& running;
      ~Done() { running.clear(); }
    } done{running_flushes};
    // One write gains nothing from a batch: it would cost a system call all the same.
    if (batch_sends && running_flushes.size() > 1 && batch.available()) {
      batch_flushes();
    } else {
      flush_one_by_one();
    }
  }
}

void EventLoop::Impl::flush_one_by_one() {
  for (std::size_t i = 0; i < running_flushes.size(); ++i) {
    const Flush flush = running_flushes[i];
    Slot* slot = find(flush.fd);
    if (slot == nullptr || slot->generation != flush.generation || !slot->flush_queued) continue;
    slot->flush_queued = false;
    try {
      slot->handler->on_flush();
    } catch (...) {
      // The exception leaves run(); the handlers not reached yet flush in the next iteration.
      // Dropped, their slots would stay marked queued in no list, and defer_flush() would
      // ignore them for good: their output would never leave.
      for (std::size_t j = i + 1; j < running_flushes.size(); ++j) {
        const Flush& later = running_flushes[j];
        const Slot* waiting = find(later.fd);
        // Marked queued: not reached, and so in no other list (defer_flush() skipped it).
        if (waiting != nullptr && waiting->generation == later.generation &&
            waiting->flush_queued) {
          flushes.push_back(later);
        }
      }
      throw;
    }
  }
}

// The writes of this round's flushes are gathered first, with no application code running
// meanwhile (the batch points into the handlers' output), and sent in one submission. Then
// each handler hears how its write went (which may run application code), and the handlers
// that added nothing flush the usual way.
void EventLoop::Impl::batch_flushes() {
  batch.clear();
  unbatched.clear();
  ConstBuffer room[TcpSocket::max_write_buffers];
  for (const Flush& flush : running_flushes) {
    Slot* slot = find(flush.fd);
    if (slot == nullptr || slot->generation != flush.generation || !slot->flush_queued) continue;
    slot->flush_queued = false;
    const std::size_t count =
        std::min(slot->handler->gather_batched(room), TcpSocket::max_write_buffers);
    if (count == 0) {
      unbatched.push_back(flush);
      continue;
    }
    batch.add(flush.fd, flush.generation, {room, count}, count == TcpSocket::max_write_buffers);
  }
  if (batch.size() > 0) {
    // The outcomes are taken out of the batch before any is reported: a report may throw (the
    // application's code), and the loop may run again after that with a clean batch.
    const std::span<const detail::SendBatch::Write> done = batch.submit();
    reports.assign(done.begin(), done.end());
    batch.clear();
    // Every write is made: each must be reported, also after one report threw, or its bytes
    // would be sent again by the next flush. The first exception goes on afterwards.
    std::exception_ptr thrown;
    for (const detail::SendBatch::Write& write : reports) {
      // A handler told earlier in this loop may have closed this one (application code).
      Slot* slot = find(write.fd);
      if (slot == nullptr || slot->generation != write.generation) continue;
      try {
        slot->handler->on_batched_write(write.result, write.total, write.more_may_wait);
      } catch (...) {
        if (!thrown) thrown = std::current_exception();
      }
    }
    reports.clear();
    if (thrown) {
      requeue_unbatched(0);
      std::rethrow_exception(thrown);
    }
  }
  for (std::size_t i = 0; i < unbatched.size(); ++i) {
    const Flush flush = unbatched[i];
    Slot* slot = find(flush.fd);
    if (slot == nullptr || slot->generation != flush.generation) continue;
    slot->flush_queued = false;  // (queued again meanwhile: this flush serves that too)
    try {
      slot->handler->on_flush();
    } catch (...) {
      requeue_unbatched(i + 1);
      throw;
    }
  }
}

// After an exception, which leaves run(): the handlers of `unbatched` from `first` on have not
// flushed yet (their marks were cleared when gathering) and flush in the next iteration. Those
// marked queued again meanwhile (by a report or an earlier flush) are in `flushes` already.
void EventLoop::Impl::requeue_unbatched(std::size_t first) {
  for (std::size_t i = first; i < unbatched.size(); ++i) {
    const Flush& flush = unbatched[i];
    Slot* slot = find(flush.fd);
    if (slot == nullptr || slot->generation != flush.generation || slot->flush_queued) continue;
    slot->flush_queued = true;
    flushes.push_back(flush);
  }
}

// The first look found `ready` descriptors, none of them the post queue: sleep, then look
// again. Level-triggered, so the second look reports those descriptors again along with the
// ones that became ready meanwhile. A post (stop() is one) ends the sleep at once, and so does
// the loop's next timer: neither waits for the pause.
int EventLoop::Impl::pause_and_look_again(int ready, std::optional<Clock::time_point> wake) {
  auto pause = std::chrono::duration_cast<std::chrono::nanoseconds>(coalescing.pause());
  if (wake) pause = std::min(pause, std::chrono::nanoseconds(*wake - Clock::now()));
  if (pause.count() <= 0) return ready;  // a timer is due: no pause
  const timespec timeout{static_cast<time_t>(pause.count() / 1'000'000'000),
                         static_cast<long>(pause.count() % 1'000'000'000)};
  pollfd post{posts->event_fd, POLLIN, 0};
  ::ppoll(&post, 1, &timeout, nullptr);  // a signal may cut it short: then less is gathered
  const int again = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 0);
  coalescing.paused(ready, again);
  // Nothing (EINTR, or readiness gone): the first look's events are still in place.
  return again > 0 ? again : ready;
}

bool EventLoop::Impl::post_ready(int count) const noexcept {
  for (int i = 0; i < count; ++i) {
    if (events[i].data.u64 == post_queue_token) return true;
  }
  return false;
}

void EventLoop::Impl::unpark() {
  for (const Flush& entry : parked) {
    Slot* slot = find(entry.fd);
    if (slot == nullptr || slot->generation != entry.generation || !slot->parked) continue;
    slot->parked = false;
    if (slot->interest != Interest::none || !slot->in_epoll) continue;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, entry.fd, nullptr);
    slot->in_epoll = false;
  }
  parked.clear();
}

EventLoop::EventLoop(const EventLoopOptions& options)
    : impl_(std::make_unique<Impl>(options, Clock::now())), now_(Clock::now()) {
  // Room for a slot per descriptor the process may open, reserved but not touched (a large
  // allocation is mapped: its untouched pages are not resident). Growing by copying instead
  // left the old arrays behind in the heap, and resizing to twice the size touched the new
  // half at once: 26 bytes per connection instead of 16 (issue 13, scenario e).
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    impl_->slots.reserve(static_cast<std::size_t>(std::min<rlim_t>(limit.rlim_cur, 1u << 20)));
  }
  if (options.coalesce_wait > max_coalesce_wait || options.coalesce_wait.count() < 0) {
    throw std::invalid_argument("EventLoopOptions::coalesce_wait: 0 to 10 ms");
  }
  impl_->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (impl_->epoll_fd < 0) throw std::system_error(last_error(), "epoll_create1");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = post_queue_token;
  if (::epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, impl_->posts->event_fd, &event) != 0) {
    const std::error_code error = last_error();
    ::close(impl_->epoll_fd);
    throw std::system_error(error, "epoll_ctl(eventfd)");
  }
}

EventLoop::~EventLoop() {
  impl_->posts->close();
  ::close(impl_->epoll_fd);
}

void EventLoop::run() {
  Impl& impl = *impl_;
  impl.thread.store(std::this_thread::get_id());
  // However run() ends, by an exception too: this thread is no longer the loop's, and this
  // run's stop request is used up (a stop() that comes before the next run() counts for it).
  struct Leaving {
    Impl& impl;
    ~Leaving() {
      impl.iterating = false;
      impl.thread.store(std::thread::id{});
      impl.stop.store(false);
    }
  } leaving{impl};
  do {
    impl.iterating = false;
    int timeout_ms = -1;
    std::optional<Clock::time_point> wake = impl.timers.next_deadline();
    if (const auto check = impl.wheel.next_check(); check && (!wake || *check < *wake)) {
      wake = check;
    }
    // Flushes still due (left by a handler that threw out of the last run(), or asked for
    // outside run()) and tasks left by a task that threw are done in this iteration, which
    // must not wait for an event.
    if (impl.stop.load() || !impl.flushes.empty() || impl.posts_ready) {
      timeout_ms = 0;
    } else if (wake) {
      // Rounded up: waking a little early would only spin until the deadline.
      const auto wait = *wake - Clock::now();
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(ms, 0, INT_MAX));
    }
    impl.unpark();
    int count = ::epoll_wait(impl.epoll_fd, impl.events.data(),
                             static_cast<int>(impl.events.size()), timeout_ms);
    if (count < 0) count = 0;  // EINTR: a signal handler ran; just iterate
    // Not while stopping, nor with a post ready (stop() from another thread, a shutdown) or
    // work left due by an exception: those are handled at once.
    if (timeout_ms != 0 && count < static_cast<int>(impl.events.size()) && !impl.stop.load() &&
        impl.coalescing.due(count) && !impl.post_ready(count)) {
      count = impl.pause_and_look_again(count, wake);
    }
    now_ = Clock::now();
    impl.iterating = true;
    ++iterations_;
    for (int i = 0; i < count; ++i) impl.dispatch(impl.events[i]);
    impl.timers.run_due(now_);
    impl.wheel.advance(now_);
    if (impl.posts_ready) {
      impl.posts_ready = false;
      impl.posts->drain(impl.running_posts);
      // Tasks posted by these tasks wait for the next wakeup: one drain per wakeup.
      impl.run_posts();
    }
    impl.run_flushes();
  } while (!impl.stop.load());
}

void EventLoop::stop() noexcept {
  impl_->stop.store(true);
  impl_->posts->wake();
}

bool EventLoop::stopping() const noexcept {
  return impl_->stop.load();
}

bool EventLoop::in_loop_thread() const noexcept {
  return impl_->thread.load() == std::this_thread::get_id();
}

void EventLoop::post(std::function<void()> task) {
  impl_->posts->push(std::move(task));
}

void EventLoop::refuse_posts() noexcept {
  impl_->posts->close();
}

LoopHandle EventLoop::handle() const {
  return LoopHandle(impl_->posts);
}

std::error_code EventLoop::add(int fd, Interest interest, IoHandler& handler) {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  // Only the slots up to this fd are constructed (touched): the capacity beyond them, reserved
  // at construction, stays untouched until descriptors that high come.
  if (static_cast<std::size_t>(fd) >= impl_->slots.size()) impl_->slots.resize(fd + 1);
  Impl::Slot& slot = impl_->slots[fd];
  if (slot.handler != nullptr) return std::make_error_code(std::errc::file_exists);
  Impl::Slot candidate{&handler, impl_->next_generation,     interest,
                       false,    interest != Interest::none, false};
  // Interest none stays out of the epoll set, so a hang-up cannot report endlessly to a
  // handler that is not listening.
  if (interest != Interest::none) {
    if (auto error = impl_->control(EPOLL_CTL_ADD, fd, candidate)) return error;
  }
  if (++impl_->next_generation == 0) impl_->next_generation = 1;
  slot = candidate;
  return {};
}

std::error_code EventLoop::modify(int fd, Interest interest) {
  Impl::Slot* slot = impl_->find(fd);
  if (slot == nullptr) return std::make_error_code(std::errc::bad_file_descriptor);
  if (slot->interest == interest) return {};
  const Interest before = slot->interest;
  slot->interest = interest;
  if (interest == Interest::none) {
    // Out of the set before the next wait (Impl::parked), or never if the fd closes first.
    if (slot->in_epoll && !slot->parked) {
      impl_->parked.push_back({fd, slot->generation});
      slot->parked = true;
    }
    return {};
  }
  const std::error_code error =
      impl_->control(slot->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, *slot);
  if (error) {
    slot->interest = before;
  } else {
    slot->in_epoll = true;
  }
  return error;
}

void EventLoop::remove(int fd) noexcept {
  Impl::Slot* slot = impl_->find(fd);
  if (slot == nullptr) return;
  if (slot->in_epoll) ::epoll_ctl(impl_->epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
  *slot = Impl::Slot{};
}

void EventLoop::forget(int fd) noexcept {
  if (Impl::Slot* slot = impl_->find(fd)) *slot = Impl::Slot{};
}

bool EventLoop::registered(int fd) const noexcept {
  return impl_->find(fd) != nullptr;
}

std::uint64_t EventLoop::coalescing_pauses() const noexcept {
  return impl_->coalescing.pauses();
}

std::uint64_t EventLoop::batched_writes() const noexcept {
  return impl_->batch.ring_writes();
}

void EventLoop::defer_flush(int fd) {
  Impl::Slot* slot = impl_->find(fd);
  if (slot == nullptr || slot->flush_queued) return;
  slot->flush_queued = true;
  impl_->flushes.push_back({fd, slot->generation});
}

TimerId EventLoop::run_after(Clock::duration delay, std::function<void()> callback) {
  return impl_->timers.add(Clock::now() + delay, Clock::duration::zero(), std::move(callback));
}

TimerId EventLoop::run_every(Clock::duration period, std::function<void()> callback) {
  period = std::max(period, Clock::duration(1));
  return impl_->timers.add(Clock::now() + period, period, std::move(callback));
}

bool EventLoop::cancel(TimerId id) noexcept {
  return impl_->timers.cancel(id);
}

namespace {
// Out of line, so that re-arming from a handler (on every message) stays a tail call with one
// more test and no stack frame (the clock read is the call that needs one).
[[gnu::noinline, gnu::cold]] void arm_from_clock(TimeoutWheel& wheel, TimeoutEntry& timeout,
                                                 Clock::duration after) noexcept {
  wheel.schedule(timeout, Clock::now() + after);
}
}  // namespace

// Why arm() counts from the iteration's wake-up (now_) inside an iteration and from the clock
// outside one. Outside, now_ may be arbitrarily old: a connection set up before run() (a
// client's, a test's) would lose the time since the loop was made, and its timeout would fire
// that much early by the caller's clock. Inside, now_ is at most this iteration old, and the
// wheel is for coarse timeouts (seconds; 100 ms resolution): reading the clock on every re-arm
// (every message) would cost more than it buys. A handler that runs long (it should not: the
// loop serves nobody else meanwhile) arms its timeouts that much early. run_after() and
// run_every() always read the clock.
void EventLoop::arm(TimeoutEntry& timeout, Clock::duration after) noexcept {
  Impl& impl = *impl_;
  if (!impl.iterating) [[unlikely]]
    return arm_from_clock(impl.wheel, timeout, after);
  impl.wheel.schedule(timeout, now_ + after);
}

TimeoutWheel& EventLoop::timeouts() noexcept {
  return impl_->wheel;
}

}  // namespace wsx::io
