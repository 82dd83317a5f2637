// How EventLoop::run() leaves the loop, by stop() or by an exception (event_loop.hpp): the same
// state either way, so that the loop can run again as if it had ended normally.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "loop_watchdog.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

TEST(EventLoopExit, RunLeftByAnExceptionClearsTheLoopThreadAndTheStopRequest) {
  EventLoop loop;
  test::arm_watchdog(loop);
  loop.run_after(0ms, [&] {
    loop.stop();
    throw std::runtime_error("from a timer, after stop()");
  });
  EXPECT_THROW(loop.run(), std::runtime_error);
  EXPECT_FALSE(loop.in_loop_thread());
  EXPECT_FALSE(loop.stopping());
  // The stop() of the run that threw does not end the next one after its first iteration.
  bool fired = false;
  loop.run_after(1ms, [&] {
    fired = true;
    loop.stop();
  });
  loop.run();
  EXPECT_TRUE(fired);
  EXPECT_FALSE(loop.in_loop_thread());
  EXPECT_FALSE(loop.stopping());
}

// The loop-level view of a periodic timer that throws (TimerQueue has the details): it stays
// scheduled, so the next run() sees it fire again, and cancel() ends it.
TEST(EventLoopExit, APeriodicTimerThatThrowsFiresAgainInTheNextRun) {
  EventLoop loop;
  test::arm_watchdog(loop);
  int ticks = 0;
  TimerId id = 0;
  id = loop.run_every(1ms, [&] {
    if (++ticks == 1) throw std::runtime_error("from a periodic timer");
    if (ticks == 3) {
      EXPECT_TRUE(loop.cancel(id));
      loop.stop();
    }
  });
  EXPECT_THROW(loop.run(), std::runtime_error);
  EXPECT_EQ(ticks, 1);
  loop.run();
  EXPECT_EQ(ticks, 3);
  EXPECT_FALSE(loop.cancel(id));
}

}  // namespace
}  // namespace wsx::io
