#include "wsx/io/signal_watcher.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "loop_watchdog.hpp"

namespace wsx::io {
namespace {

bool blocked(int signal) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signal) == 1;
}

using Handler = void (*)(int);

Handler handler_of(int signal) {
  struct sigaction action {};
  sigaction(signal, nullptr, &action);
  return action.sa_handler;
}

TEST(SignalWatcher, DeliversSignalsToTheLoopAndRestoresTheHandlers) {
  ASSERT_EQ(handler_of(SIGUSR1), SIG_DFL);
  EventLoop loop;
  test::arm_watchdog(loop);
  std::vector<int> received;
  {
    SignalWatcher watcher(loop, {SIGUSR1, SIGTERM, SIGINT}, [&](int signal) {
      received.push_back(signal);
      if (received.size() == 2) loop.stop();
    });
    ASSERT_FALSE(watcher.error()) << watcher.error().message();
    EXPECT_NE(handler_of(SIGUSR1), SIG_DFL);
    EXPECT_NE(handler_of(SIGTERM), SIG_DFL);
    // Handled, so instead of killing the test they wait in the watcher's pipe.
    ASSERT_EQ(::raise(SIGTERM), 0);
    ASSERT_EQ(::raise(SIGUSR1), 0);
    loop.run();
  }
  EXPECT_EQ(handler_of(SIGUSR1), SIG_DFL);
  EXPECT_EQ(handler_of(SIGTERM), SIG_DFL);
  EXPECT_EQ(received, (std::vector<int>{SIGTERM, SIGUSR1}));  // in the order they came
}

TEST(SignalWatcher, ASignalTakenByAnyThreadReachesTheLoop) {
  // The thread exists before the watcher and never blocked anything: with a per-thread mask
  // it would take SIGUSR2 the default way (the process would die).
  EventLoop loop;
  test::arm_watchdog(loop);
  std::vector<int> received;
  std::thread other;
  {
    SignalWatcher watcher(loop, {SIGUSR2}, [&](int signal) {
      received.push_back(signal);
      loop.stop();
    });
    ASSERT_FALSE(watcher.error());
    other = std::thread([] { ::pthread_kill(::pthread_self(), SIGUSR2); });
    loop.run();
    other.join();
  }
  EXPECT_EQ(received, std::vector<int>{SIGUSR2});
}

TEST(SignalWatcher, UnblocksItsSignalsWhileItLivesAndRestoresTheMask) {
  // A program that blocked the signals early (so none is lost before the watcher exists) gets
  // the pending one delivered once the watcher is there, and its mask back afterwards.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);
  ASSERT_EQ(::raise(SIGUSR1), 0);  // pending
  EventLoop loop;
  test::arm_watchdog(loop);
  std::vector<int> received;
  {
    SignalWatcher watcher(loop, {SIGUSR1}, [&](int signal) {
      received.push_back(signal);
      loop.stop();
    });
    ASSERT_FALSE(watcher.error());
    EXPECT_FALSE(blocked(SIGUSR1));
    loop.run();
  }
  EXPECT_TRUE(blocked(SIGUSR1));
  EXPECT_EQ(handler_of(SIGUSR1), SIG_DFL);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  EXPECT_EQ(received, std::vector<int>{SIGUSR1});
}

TEST(SignalWatcher, EveryLiveWatcherGetsTheSignal) {
  // Two servers with handle_signals in one process: one Ctrl-C must stop both. (Before, the
  // newer watcher took the signal over and the older one heard nothing.)
  EventLoop loop;
  test::arm_watchdog(loop);
  std::vector<std::string> received;
  auto note = [&](const char* name) {
    received.emplace_back(name);
    if (received.size() == 2) loop.stop();
  };
  SignalWatcher outer(loop, {SIGUSR1}, [&](int) { note("outer"); });
  {
    SignalWatcher inner(loop, {SIGUSR1}, [&](int) { note("inner"); });
    ASSERT_EQ(::raise(SIGUSR1), 0);
    loop.run();
    std::sort(received.begin(), received.end());
    EXPECT_EQ(received, (std::vector<std::string>{"inner", "outer"}));
  }
  received.clear();
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_EQ(::raise(SIGUSR1), 0);
  loop.run();
  EXPECT_EQ(received, (std::vector<std::string>{"outer", "outer"}));  // the inner one is gone
}

TEST(SignalWatcher, WatchersMayEndInAnyOrder) {
  // The first watcher ending first (the first of two servers to return from run()) must not
  // leave the handler installed with its closed pipe once both are gone: the signal would no
  // longer do its default action, and its byte would go to whatever file reuses that descriptor.
  ASSERT_EQ(handler_of(SIGUSR2), SIG_DFL);
  EventLoop loop;
  test::arm_watchdog(loop);
  std::vector<std::string> received;
  std::optional<SignalWatcher> first(std::in_place, loop, std::initializer_list<int>{SIGUSR2},
                                     [&](int) { received.emplace_back("first"); });
  std::optional<SignalWatcher> second(std::in_place, loop, std::initializer_list<int>{SIGUSR2},
                                      [&](int) {
                                        received.emplace_back("second");
                                        loop.stop();
                                      });
  ASSERT_FALSE(first->error());
  ASSERT_FALSE(second->error());
  first.reset();
  EXPECT_NE(handler_of(SIGUSR2), SIG_DFL);  // the second one still watches
  ASSERT_EQ(::raise(SIGUSR2), 0);
  loop.run();
  EXPECT_EQ(received, std::vector<std::string>{"second"});
  second.reset();
  EXPECT_EQ(handler_of(SIGUSR2), SIG_DFL);
}

// A shell starts a background job with SIGINT and SIGQUIT ignored, nohup with SIGHUP ignored:
// the watcher leaves those as they are (and blocked if they were). SIGTERM is watched even
// when found ignored.
TEST(SignalWatcher, TerminalSignalsFoundIgnoredStayIgnored) {
  constexpr int terminal_signals[] = {SIGHUP, SIGINT, SIGQUIT};
  for (const int signal : terminal_signals) ASSERT_EQ(handler_of(signal), SIG_DFL) << signal;
  for (const int signal : terminal_signals) ::signal(signal, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  sigset_t blocked_int;
  sigemptyset(&blocked_int);
  sigaddset(&blocked_int, SIGINT);
  sigset_t mask_before;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &blocked_int, &mask_before), 0);
  EventLoop loop;
  test::arm_watchdog(loop);
  std::vector<int> received;
  {
    SignalWatcher watcher(loop, {SIGHUP, SIGINT, SIGQUIT, SIGTERM}, [&](int signal) {
      received.push_back(signal);
      loop.stop();
    });
    ASSERT_FALSE(watcher.error()) << watcher.error().message();
    for (const int signal : terminal_signals) EXPECT_EQ(handler_of(signal), SIG_IGN) << signal;
    EXPECT_TRUE(blocked(SIGINT));  // not unblocked either
    EXPECT_NE(handler_of(SIGTERM), SIG_IGN);
    ASSERT_EQ(::raise(SIGHUP), 0);  // discarded
    ASSERT_EQ(::raise(SIGINT), 0);  // pending while blocked, discarded once unblocked
    ASSERT_EQ(::raise(SIGQUIT), 0);
    ASSERT_EQ(::raise(SIGTERM), 0);
    loop.run();
  }
  EXPECT_EQ(received, std::vector<int>{SIGTERM});
  EXPECT_EQ(handler_of(SIGTERM), SIG_IGN);  // put back as found
  pthread_sigmask(SIG_SETMASK, &mask_before, nullptr);
  for (const int signal : {SIGHUP, SIGINT, SIGQUIT, SIGTERM}) ::signal(signal, SIG_DFL);
}

TEST(SignalWatcher, ASignalThatCannotBeHandledIsAnError) {
  EventLoop loop;
  SignalWatcher watcher(loop, {SIGUSR2, SIGKILL}, [](int) {});
  EXPECT_EQ(watcher.error(), std::errc::invalid_argument);
  EXPECT_EQ(handler_of(SIGUSR2), SIG_DFL);  // nothing left half installed
}

TEST(SignalWatcher, UnknownSignalNumbersAreIgnored) {
  EventLoop loop;
  SignalWatcher watcher(loop, {SIGUSR2, 999}, [](int) {});
  EXPECT_FALSE(watcher.error());
}

}  // namespace
}  // namespace wsx::io
