// The cross-thread post queue of an event loop (src/io/post_queue.cpp), through EventLoop and
// LoopHandle, under contention: posting threads racing the loop's run, its stop and its
// destruction. For ThreadSanitizer (tests/tsan) as much as for the counts it checks.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "loop_watchdog.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

TEST(PostQueue, PostsRacingTheLoopsDestructionRunOnceOrAreRefused) {
  constexpr int rounds = 20;
  constexpr int posters = 3;
  for (int round = 0; round < rounds; ++round) {
    auto loop = std::make_unique<EventLoop>();
    const LoopHandle handle = loop->handle();
    std::atomic<int> accepted{0};
    int ran = 0;  // the loop's thread only, read after it is joined
    std::vector<std::thread> threads;
    for (int t = 0; t < posters; ++t) {
      // Each poster goes on until the loop is gone and its handle refuses.
      threads.emplace_back([&] {
        while (handle.post([&] {
          if (++ran == 100) loop->stop();
        })) {
          ++accepted;
        }
      });
    }
    std::thread runner([&] {
      test::arm_watchdog(*loop, 10s);
      loop->run();
    });
    runner.join();
    // Tasks accepted after run() returned are still queued: destruction drops them.
    loop.reset();
    for (std::thread& thread : threads) thread.join();
    EXPECT_GE(ran, 100);
    EXPECT_LE(ran, accepted.load());
    EXPECT_FALSE(handle.post([] { ADD_FAILURE() << "ran on a destroyed loop"; }));
  }
}

TEST(PostQueue, StopAndPostFromOtherThreadsWhileTheLoopRunsAgainAndAgain) {
  EventLoop loop;
  constexpr int runs = 50;
  std::atomic<bool> done{false};
  std::atomic<int> posted{0};
  int ran = 0;  // the loop's thread only
  std::thread poster([&] {
    while (!done.load()) {
      loop.post([&] { ++ran; });
      ++posted;
      std::this_thread::yield();
    }
  });
  // Each run ends by a stop() from another thread; the loop then runs again (EventLoop::run).
  for (int run = 0; run < runs; ++run) {
    std::thread stopper([&] { loop.stop(); });
    loop.run();
    stopper.join();
  }
  done = true;
  poster.join();
  // What was posted after the last run is still queued; one more run takes it.
  loop.post([&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(ran, posted.load());
}

}  // namespace
}  // namespace wsx::io
