// Delivers process signals (SIGINT, SIGTERM, ...) to an event loop as ordinary events, through
// a signalfd, for graceful shutdown. No code runs in signal-handler context.
#pragma once

#include <functional>
#include <initializer_list>
#include <system_error>

#include "wsx/io/event_loop.hpp"

namespace wsx::io {

class SignalWatcher final : private IoHandler {
 public:
  using Callback = std::function<void(int signal)>;

  // Blocks `signals` in the calling thread so they queue on the signalfd instead of running
  // their default action. Construct it before starting other threads: they inherit the mask;
  // a thread that does not block a signal may still take it the default way.
  SignalWatcher(EventLoop& loop, std::initializer_list<int> signals, Callback callback);
  // Unregisters; restores the calling thread's previous mask when destroyed on that thread.
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  std::error_code error() const noexcept { return error_; }  // set if the signalfd failed

 private:
  void on_readable() override;

  EventLoop& loop_;
  Callback callback_;
  int fd_ = -1;
  std::error_code error_;
  alignas(8) unsigned char previous_mask_[128] = {};  // a sigset_t, kept opaque
  unsigned long owner_thread_ = 0;                    // a pthread_t
  bool mask_changed_ = false;
};

}  // namespace wsx::io
