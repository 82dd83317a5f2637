// Delivers process signals (SIGINT, SIGTERM, ...) to an event loop as ordinary events, for
// graceful shutdown, whatever thread the kernel picks to take them.
//
// A signal's disposition is process-wide but a blocked-signal mask is per thread: blocking the
// signals in one thread (for a signalfd) leaves every thread the application started before to
// take them the default way, and SIGTERM then kills the process without a closing handshake.
// So the watcher installs a handler (sigaction) instead. The handler only writes the signal's
// number to a pipe (write() is async-signal-safe, and errno is kept); the loop reads the pipe
// and runs the callback as an ordinary event. The watcher also unblocks its signals in the
// calling thread (threads started afterwards inherit that), so a signal that arrived while
// they were blocked — say before the server started — is delivered now.
//
// SIGHUP, SIGINT and SIGQUIT found ignored (SIG_IGN) when no watcher holds them are left
// ignored: a shell starts a background job with SIGINT and SIGQUIT ignored, nohup its command
// with SIGHUP ignored, and a server started so must not stop on the terminal's Ctrl-C or hang-up.
// SIGTERM and every other signal are watched even when found ignored: SIGTERM is how kill,
// service managers and container runtimes stop a process, and an ignore inherited for it is
// an accident of the parent (signal_watcher.cpp says more).
//
// Every live watcher of a signal gets it (two servers with handle_signals in one process both
// stop on one Ctrl-C), at most 16 watchers per signal (more: error() is
// resource_unavailable_try_again). The first watcher of a signal installs the handler; the last
// one to end puts back the action the first one found, in whatever order they end. Each
// destructor puts back its own thread's mask when it runs on the thread that created it.
#pragma once

#include <functional>
#include <initializer_list>
#include <system_error>
#include <vector>

#include "wsx/export.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx::io {

class WSX_API SignalWatcher final : private IoHandler {
 public:
  using Callback = std::function<void(int signal)>;
  // The watcher failed while waiting (the pipe reported an error): signals no longer arrive.
  using ErrorCallback = std::function<void(std::error_code error)>;

  SignalWatcher(EventLoop& loop, std::initializer_list<int> signals, Callback callback,
                ErrorCallback on_error = {});
  // Unregisters; restores the calling thread's mask (when destroyed on that thread) and then
  // the previous handlers.
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Set when the watcher could not be installed (pipe, loop registration, sigaction); then no
  // signal is watched and every disposition is as it was.
  std::error_code error() const noexcept { return error_; }

 private:
  struct Installed {
    int signal = 0;
    int slot = 0;  // where this watcher's pipe is in the signal's table (signal_watcher.cpp)
  };

  void on_readable() override;
  void on_error() override;
  void fail(std::error_code error);
  void uninstall() noexcept;

  EventLoop& loop_;
  Callback callback_;
  ErrorCallback on_error_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  bool registered_ = false;
  std::error_code error_;
  std::vector<Installed> installed_;
  alignas(8) unsigned char previous_mask_[128] = {};  // a sigset_t, kept opaque
  unsigned long owner_thread_ = 0;                    // a pthread_t
  bool mask_changed_ = false;
};

}  // namespace wsx::io
