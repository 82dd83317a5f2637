#include "io/timer_queue.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace wsx::io::detail {
namespace {

using std::chrono::milliseconds;

class TimerQueueTest : public ::testing::Test {
 protected:
  Clock::time_point start = Clock::now();
  Clock::time_point at(int ms) const { return start + milliseconds(ms); }
  TimerQueue timers;
};

// An exception from a periodic timer leaves run_due() (and EventLoop::run(), event_loop.hpp)
// but does not end the timer: it fires again at its next period, and cancel() still ends it.
TEST_F(TimerQueueTest, APeriodicTimerThatThrowsFiresAgainAtItsNextPeriod) {
  int ticks = 0;
  const TimerId id = timers.add(at(10), milliseconds(10), [&] {
    if (++ticks == 1) throw std::runtime_error("from a periodic timer");
  });
  EXPECT_THROW(timers.run_due(at(10)), std::runtime_error);
  EXPECT_EQ(ticks, 1);
  EXPECT_EQ(timers.next_deadline(), at(20));
  timers.run_due(at(20));
  EXPECT_EQ(ticks, 2);
  EXPECT_EQ(timers.next_deadline(), at(30));
  EXPECT_TRUE(timers.cancel(id));
  EXPECT_EQ(timers.next_deadline(), std::nullopt);
  EXPECT_EQ(timers.size(), 0u);
}

// Neither the timers due behind the one that threw nor a timer created in the same call
// (already due, so taken out of the heap and held back for the next call) are lost: they run in
// the next call.
TEST_F(TimerQueueTest, TimersLeftByACallbackThatThrowsRunInTheNextCall) {
  std::vector<int> ran;
  const auto once = Clock::duration::zero();
  timers.add(at(10), once, [&] {
    ran.push_back(1);
    timers.add(at(5), once, [&] { ran.push_back(3); });  // already due: waits for the next call
  });
  timers.add(at(10), once, [&] {
    ran.push_back(2);
    throw std::runtime_error("from a one-shot timer");
  });
  timers.add(at(10), once, [&] { ran.push_back(4); });
  EXPECT_THROW(timers.run_due(at(10)), std::runtime_error);
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_EQ(timers.next_deadline(), at(5));
  timers.run_due(at(10));
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(timers.size(), 0u);
}

}  // namespace
}  // namespace wsx::io::detail
