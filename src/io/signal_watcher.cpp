#include "wsx/io/signal_watcher.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

namespace wsx::io {

static_assert(sizeof(sigset_t) <= 128 && alignof(sigset_t) <= 8);
static_assert(sizeof(pthread_t) == sizeof(unsigned long));

namespace {

// Every live watcher of a signal gets it: a signal is process-wide, and two servers with
// handle_signals in one process must both stop on one Ctrl-C. Per signal, the write ends of
// the watchers' pipes, plus one (0: a free slot, so that the zero-initialised array needs no
// constructor). Lock-free atomics: the handler reads them.
constexpr std::size_t max_watchers_per_signal = 16;
std::atomic<int> pipes_for_signal[NSIG][max_watchers_per_signal];
static_assert(std::atomic<int>::is_always_lock_free);

// Per signal, under registry_mutex(): how many watchers hold it, and the action the first one
// found, put back when the last one goes — whatever order the watchers end in.
struct SignalRegistration {
  std::size_t watchers = 0;
  struct sigaction original {};
};
SignalRegistration registrations[NSIG];

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Signal-handler context: only async-signal-safe calls. A full pipe drops the byte, which loses
// nothing — the signals it already holds lead to the same stop.
extern "C" void forward_signal(int signal) {
  const int saved_errno = errno;
  if (signal > 0 && signal < NSIG) {
    const auto byte = static_cast<unsigned char>(signal);
    for (const std::atomic<int>& slot : pipes_for_signal[signal]) {
      const int fd = slot.load(std::memory_order_relaxed) - 1;
      if (fd >= 0) {
        [[maybe_unused]] const ssize_t written = ::write(fd, &byte, 1);
      }
    }
  }
  errno = saved_errno;
}

std::error_code last_error() {
  return {errno, std::system_category()};
}

// The signals a terminal or a shell sends on the user's behalf. A shell starts a background job
// (without job control: a script's `server &`) with SIGINT and SIGQUIT ignored, and nohup starts
// its command with SIGHUP ignored, to say "not for you"; that SIG_IGN is inherited across exec
// and is kept, as the classic `if (signal(SIGINT, SIG_IGN) != SIG_IGN)` idiom keeps it.
// SIGTERM and the others are taken even when found ignored: SIGTERM is how kill, systemd and
// container runtimes ask a service to stop, no shell convention ignores it, and a SIG_IGN
// inherited for it is a parent's accident — honouring it would leave SIGKILL, with no closing
// handshake, as the only way to stop the server.
bool keeps_an_inherited_ignore(int signal) noexcept {
  return signal == SIGHUP || signal == SIGINT || signal == SIGQUIT;
}

// Under registry_mutex(), before any watcher of `signal` installed our handler.
bool found_ignored(int signal) noexcept {
  struct sigaction current {};
  return ::sigaction(signal, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) == 0 &&
         current.sa_handler == SIG_IGN;
}

enum class Added : unsigned char { forwarded, left_ignored };

// Adds `write_fd` to the pipes `signal` is forwarded to, in a free slot (its index in `slot`);
// the first watcher of a signal installs the handler. A terminal signal found ignored is left
// so (keeps_an_inherited_ignore): no pipe, no handler, `added` says so.
std::error_code add_pipe(int signal, int write_fd, int& slot, Added& added) {
  std::lock_guard lock(registry_mutex());
  added = Added::forwarded;
  if (registrations[signal].watchers == 0 && keeps_an_inherited_ignore(signal) &&
      found_ignored(signal)) {
    added = Added::left_ignored;
    return {};
  }
  std::atomic<int>* const slots = pipes_for_signal[signal];
  std::atomic<int>* const end = slots + max_watchers_per_signal;
  std::atomic<int>* const free_slot =
      std::find_if(slots, end, [](const std::atomic<int>& pipe) { return pipe.load() == 0; });
  if (free_slot == end) return std::make_error_code(std::errc::resource_unavailable_try_again);
  // The pipe first: a signal between sigaction() and this store would find no pipe.
  free_slot->store(write_fd + 1);
  SignalRegistration& registration = registrations[signal];
  if (registration.watchers == 0) {
    struct sigaction action {};
    action.sa_handler = forward_signal;
    sigfillset(&action.sa_mask);  // one handler at a time: the pipe gets whole bytes in order
    action.sa_flags = SA_RESTART;
    if (::sigaction(signal, &action, &registration.original) != 0) {
      const std::error_code error = last_error();
      free_slot->store(0);
      return error;
    }
  }
  ++registration.watchers;
  slot = static_cast<int>(free_slot - slots);
  return {};
}

// Undoes add_pipe(); the last watcher of a signal puts back what the first one found.
void remove_pipe(int signal, int slot) noexcept {
  std::lock_guard lock(registry_mutex());
  pipes_for_signal[signal][slot].store(0);
  SignalRegistration& registration = registrations[signal];
  if (--registration.watchers == 0) ::sigaction(signal, &registration.original, nullptr);
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
    int slot = 0;
    Added added = Added::forwarded;
    if (const std::error_code error = add_pipe(signal, write_fd_, slot, added)) {
      error_ = error;
      uninstall();
      return;
    }
    if (added == Added::left_ignored) continue;  // nor unblocked: it stays as it was
    installed_.push_back({signal, slot});
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
  for (const Installed& entry : installed_) remove_pipe(entry.signal, entry.slot);
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
