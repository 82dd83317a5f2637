#include "wsx/io/signal_watcher.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace wsx::io {

static_assert(sizeof(sigset_t) <= 128 && alignof(sigset_t) <= 8);
static_assert(sizeof(struct sigaction) <= 256 && alignof(struct sigaction) <= 8);
static_assert(sizeof(pthread_t) == sizeof(unsigned long));

namespace {

// Per signal, the write end of the pipe its handler writes to, plus one (0: none, so that the
// zero-initialised array needs no constructor). Lock-free atomics: the handler may read them.
std::atomic<int> pipe_for_signal[NSIG];
static_assert(std::atomic<int>::is_always_lock_free);

// Signal-handler context: only async-signal-safe calls. A full pipe drops the byte, which loses
// nothing — the signals it already holds lead to the same stop.
extern "C" void forward_signal(int signal) {
  const int saved_errno = errno;
  if (signal > 0 && signal < NSIG) {
    const int fd = pipe_for_signal[signal].load(std::memory_order_relaxed) - 1;
    if (fd >= 0) {
      const auto byte = static_cast<unsigned char>(signal);
      [[maybe_unused]] const ssize_t written = ::write(fd, &byte, 1);
    }
  }
  errno = saved_errno;
}

std::error_code last_error() {
  return {errno, std::system_category()};
}

}  // namespace

SignalWatcher::SignalWatcher(EventLoop& loop, std::initializer_list<int> signals, Callback callback,
                             ErrorCallback on_error)
    : loop_(loop), callback_(std::move(callback)), on_error_(std::move(on_error)) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    error_ = last_error();
    return;
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  if (auto error = loop_.add(read_fd_, Interest::read, *this)) {
    error_ = error;
    uninstall();
    return;
  }
  registered_ = true;
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : signals) {
    if (signal <= 0 || signal >= NSIG || sigismember(&set, signal) == 1) continue;  // unknown
    struct sigaction action {};
    action.sa_handler = forward_signal;
    sigfillset(&action.sa_mask);  // one handler at a time: the pipe gets whole bytes in order
    action.sa_flags = SA_RESTART;
    Installed entry;
    entry.signal = signal;
    // The pipe first: a signal between sigaction() and this store would find no pipe.
    entry.previous_pipe = pipe_for_signal[signal].exchange(write_fd_ + 1);
    struct sigaction previous {};
    if (::sigaction(signal, &action, &previous) != 0) {
      error_ = last_error();
      pipe_for_signal[signal].store(entry.previous_pipe);
      uninstall();
      return;
    }
    std::memcpy(entry.previous_action, &previous, sizeof previous);
    installed_.push_back(entry);
    sigaddset(&set, signal);
  }
  sigset_t previous_mask;
  if (const int error = ::pthread_sigmask(SIG_UNBLOCK, &set, &previous_mask); error != 0) {
    error_ = {error, std::system_category()};
    uninstall();
    return;
  }
  std::memcpy(previous_mask_, &previous_mask, sizeof previous_mask);
  owner_thread_ = static_cast<unsigned long>(::pthread_self());
  mask_changed_ = true;
}

SignalWatcher::~SignalWatcher() {
  uninstall();
}

void SignalWatcher::uninstall() noexcept {
  // The mask before the handlers: a signal that was blocked before us stays blocked (pending)
  // instead of meeting the default action in the moment between the two.
  if (mask_changed_ && ::pthread_equal(static_cast<pthread_t>(owner_thread_), ::pthread_self())) {
    sigset_t previous;
    std::memcpy(&previous, previous_mask_, sizeof previous);
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
  mask_changed_ = false;
  for (auto entry = installed_.rbegin(); entry != installed_.rend(); ++entry) {
    struct sigaction previous;
    std::memcpy(&previous, entry->previous_action, sizeof previous);
    ::sigaction(entry->signal, &previous, nullptr);
    pipe_for_signal[entry->signal].store(entry->previous_pipe);
  }
  installed_.clear();
  if (registered_) loop_.remove(read_fd_);
  registered_ = false;
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
  read_fd_ = write_fd_ = -1;
}

void SignalWatcher::on_readable() {
  // Several signals may be waiting: read a batch, then deliver each. The callback may stop
  // the loop but must not destroy this watcher.
  unsigned char received[64];
  const ssize_t count = ::read(read_fd_, received, sizeof received);
  if (count < 0) {
    if (errno != EAGAIN && errno != EINTR) fail(last_error());
    return;
  }
  if (count == 0) {  // the write end is ours and open: cannot happen, but would spin
    fail(std::make_error_code(std::errc::broken_pipe));
    return;
  }
  for (ssize_t i = 0; i < count; ++i) callback_(received[i]);
}

void SignalWatcher::on_error() {
  fail(std::make_error_code(std::errc::io_error));
}

// Signals can no longer be seen: say so once and stop polling a broken descriptor (the
// handlers stay; their writes go nowhere harmful).
void SignalWatcher::fail(std::error_code error) {
  if (registered_) loop_.remove(read_fd_);
  registered_ = false;
  error_ = error;
  if (on_error_) on_error_(error);
}

}  // namespace wsx::io
