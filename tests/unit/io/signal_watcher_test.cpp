#include "wsx/io/signal_watcher.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <vector>

#include "loop_watchdog.hpp"

namespace wsx::io {
namespace {

bool blocked(int signal) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signal) == 1;
}

TEST(SignalWatcher, DeliversSignalsToTheLoopAndRestoresTheMask) {
  ASSERT_FALSE(blocked(SIGUSR1));
  EventLoop loop;
  test::arm_watchdog(loop);
  std::vector<int> received;
  {
    SignalWatcher watcher(loop, {SIGUSR1, SIGTERM, SIGINT}, [&](int signal) {
      received.push_back(signal);
      if (received.size() == 2) loop.stop();
    });
    ASSERT_FALSE(watcher.error()) << watcher.error().message();
    EXPECT_TRUE(blocked(SIGUSR1));
    EXPECT_TRUE(blocked(SIGTERM));
    // Blocked, so instead of killing the test they wait on the signalfd.
    ASSERT_EQ(::raise(SIGTERM), 0);
    ASSERT_EQ(::raise(SIGUSR1), 0);
    loop.run();
  }
  EXPECT_FALSE(blocked(SIGUSR1));
  EXPECT_FALSE(blocked(SIGTERM));
  ASSERT_EQ(received.size(), 2u);
  // Standard signals queue by number, not by arrival.
  EXPECT_EQ(received[0], SIGUSR1);
  EXPECT_EQ(received[1], SIGTERM);
}

TEST(SignalWatcher, UnknownSignalNumbersAreIgnored) {
  EventLoop loop;
  SignalWatcher watcher(loop, {SIGUSR2, 999}, [](int) {});
  // sigaddset ignores 999; the watcher still works for SIGUSR2.
  EXPECT_FALSE(watcher.error());
}

}  // namespace
}  // namespace wsx::io
