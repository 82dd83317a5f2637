#include "wsx/io/signal_watcher.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wsx::io {

static_assert(sizeof(sigset_t) <= 128 && alignof(sigset_t) <= 8);
static_assert(sizeof(pthread_t) == sizeof(unsigned long));

SignalWatcher::SignalWatcher(EventLoop& loop, std::initializer_list<int> signals, Callback callback)
    : loop_(loop), callback_(std::move(callback)) {
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : signals) sigaddset(&set, signal);
  sigset_t previous;
  if (const int error = ::pthread_sigmask(SIG_BLOCK, &set, &previous); error != 0) {
    error_ = {error, std::system_category()};
    return;
  }
  std::memcpy(previous_mask_, &previous, sizeof previous);
  owner_thread_ = static_cast<unsigned long>(::pthread_self());
  mask_changed_ = true;
  fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) {
    error_ = {errno, std::system_category()};
    return;
  }
  if (auto error = loop_.add(fd_, Interest::read, *this)) {
    error_ = error;
    ::close(fd_);
    fd_ = -1;
  }
}

SignalWatcher::~SignalWatcher() {
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
  }
  if (mask_changed_ && ::pthread_equal(static_cast<pthread_t>(owner_thread_), ::pthread_self())) {
    sigset_t previous;
    std::memcpy(&previous, previous_mask_, sizeof previous);
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
}

void SignalWatcher::on_readable() {
  signalfd_siginfo info;
  // Several signals may be queued: drain a batch, then deliver each. The callback may stop
  // the loop but must not destroy this watcher.
  int received[16];
  int count = 0;
  while (count < 16 && ::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    received[count++] = static_cast<int>(info.ssi_signo);
  }
  for (int i = 0; i < count; ++i) callback_(received[i]);
}

}  // namespace wsx::io
