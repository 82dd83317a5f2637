#include "wsx/io/timeout_wheel.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <vector>

namespace wsx::io {
namespace {

using std::chrono::milliseconds;

class TimeoutWheelTest : public ::testing::Test {
 protected:
  Clock::time_point start = Clock::now();
  Clock::time_point at(int ms) const { return start + milliseconds(ms); }
};

TEST_F(TimeoutWheelTest, FiresAtDeadlineNeverEarly) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  int fired = 0;
  Timeout timeout([&] { ++fired; });
  wheel.schedule(timeout, at(35));
  EXPECT_TRUE(timeout.armed());
  EXPECT_EQ(wheel.size(), 1u);
  wheel.advance(at(30));
  EXPECT_EQ(fired, 0);
  wheel.advance(at(34));
  EXPECT_EQ(fired, 0);
  wheel.advance(at(40));  // one resolution late at most
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(timeout.armed());
  EXPECT_EQ(wheel.size(), 0u);
  wheel.advance(at(200));
  EXPECT_EQ(fired, 1);
}

TEST_F(TimeoutWheelTest, ResetPostponesLazily) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  int fired = 0;
  Timeout idle([&] { ++fired; });
  wheel.schedule(idle, at(50));
  for (int now = 10; now <= 100; now += 10) {
    wheel.advance(at(now));
    wheel.schedule(idle, at(now + 50));  // activity pushes the idle deadline back
  }
  EXPECT_EQ(fired, 0);
  wheel.advance(at(149));
  EXPECT_EQ(fired, 0);
  wheel.advance(at(150));
  EXPECT_EQ(fired, 1);
}

TEST_F(TimeoutWheelTest, EarlierDeadlineMovesTheTimeout) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  int fired = 0;
  Timeout timeout([&] { ++fired; });
  wheel.schedule(timeout, at(100));
  wheel.schedule(timeout, at(20));
  wheel.advance(at(20));
  EXPECT_EQ(fired, 1);
}

TEST_F(TimeoutWheelTest, CancelAndDestructionPreventFiring) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  int fired = 0;
  Timeout cancelled([&] { ++fired; });
  wheel.schedule(cancelled, at(20));
  cancelled.cancel();
  EXPECT_FALSE(cancelled.armed());
  {
    Timeout destroyed([&] { ++fired; });
    wheel.schedule(destroyed, at(20));
    EXPECT_EQ(wheel.size(), 1u);
  }
  EXPECT_EQ(wheel.size(), 0u);
  wheel.advance(at(100));
  EXPECT_EQ(fired, 0);
}

TEST_F(TimeoutWheelTest, DeadlinesBeyondOneRotationWaitTheirRound) {
  TimeoutWheel wheel(start, {milliseconds(10), 8});  // one rotation: 80 ms
  int fired = 0;
  Timeout timeout([&] { ++fired; });
  wheel.schedule(timeout, at(1000));
  for (int now = 10; now < 1000; now += 10) wheel.advance(at(now));
  EXPECT_EQ(fired, 0);
  wheel.advance(at(1000));
  EXPECT_EQ(fired, 1);
}

TEST_F(TimeoutWheelTest, LongPauseFiresEverythingDue) {
  TimeoutWheel wheel(start, {milliseconds(10), 8});
  int fired = 0;
  std::vector<std::unique_ptr<Timeout>> timeouts;
  for (int i = 1; i <= 50; ++i) {
    timeouts.push_back(std::make_unique<Timeout>([&] { ++fired; }));
    wheel.schedule(*timeouts.back(), at(i * 7));
  }
  Timeout later([&] { fired += 1000; });
  wheel.schedule(later, at(5000));
  wheel.advance(at(400));
  EXPECT_EQ(fired, 50);
  EXPECT_EQ(wheel.size(), 1u);
}

TEST_F(TimeoutWheelTest, CallbackMayRearmOrDestroyItsOwnTimeout) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  int rearmed = 0;
  Timeout periodic;
  periodic.set_callback([&] {
    if (++rearmed < 3) wheel.schedule(periodic, periodic.deadline() + milliseconds(20));
  });
  wheel.schedule(periodic, at(20));
  auto owned = std::make_unique<Timeout>();
  bool destroyed_ran = false;
  owned->set_callback([&] {
    destroyed_ran = true;
    owned.reset();  // a connection closing from its own timeout
  });
  wheel.schedule(*owned, at(20));
  for (int now = 10; now <= 100; now += 10) wheel.advance(at(now));
  EXPECT_EQ(rearmed, 3);
  EXPECT_TRUE(destroyed_ran);
  EXPECT_EQ(owned, nullptr);
  EXPECT_EQ(wheel.size(), 0u);
}

// A per-connection owner derives from TimeoutEntry (no closure): the expiry function finds the
// owner from the entry, and may destroy it.
TEST_F(TimeoutWheelTest, EntryOwnerFindsItselfAndMayDestroyItself) {
  struct Connection final : TimeoutEntry {
    explicit Connection(std::vector<int>& log, int id)
        : TimeoutEntry(&Connection::expire), log(log), id(id) {}
    static void expire(TimeoutEntry& entry) {
      auto& self = static_cast<Connection&>(entry);
      self.log.push_back(self.id);
      if (self.id == 2) delete &self;  // closes from its own timeout
    }
    std::vector<int>& log;
    int id;
  };
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  std::vector<int> log;
  Connection first(log, 1);
  auto* second = new Connection(log, 2);
  wheel.schedule(first, at(20));
  wheel.schedule(*second, at(30));
  EXPECT_EQ(wheel.size(), 2u);
  wheel.advance(at(20));
  EXPECT_EQ(log, std::vector<int>{1});
  EXPECT_FALSE(first.armed());
  wheel.advance(at(30));
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  EXPECT_EQ(wheel.size(), 0u);
  static_assert(sizeof(TimeoutEntry) <= 5 * sizeof(void*), "a deadline, a link, two pointers");
}

TEST_F(TimeoutWheelTest, CallbackMayCancelAnotherDueTimeout) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  int fired = 0;
  Timeout first, second;
  first.set_callback([&] {
    ++fired;
    second.cancel();
  });
  second.set_callback([&] {
    ++fired;
    first.cancel();
  });
  wheel.schedule(first, at(20));
  wheel.schedule(second, at(20));
  wheel.advance(at(20));
  EXPECT_EQ(fired, 1);
}

TEST_F(TimeoutWheelTest, NextCheckPointsAtTheFirstOccupiedTick) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  EXPECT_FALSE(wheel.next_check().has_value());
  Timeout timeout;
  wheel.schedule(timeout, at(45));
  ASSERT_TRUE(wheel.next_check().has_value());
  EXPECT_EQ(*wheel.next_check(), at(50));
  timeout.cancel();
  EXPECT_FALSE(wheel.next_check().has_value());
}

// next_check() resumes its scan where the last one found a timeout: a timeout armed earlier
// than that afterwards, or one re-filed by advance(), must still be seen.
TEST_F(TimeoutWheelTest, NextCheckSeesAnEarlierTimeoutArmedLater) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  Timeout late;
  Timeout early;
  wheel.schedule(late, at(145));
  EXPECT_EQ(wheel.next_check(), at(150));
  wheel.schedule(early, at(45));
  EXPECT_EQ(wheel.next_check(), at(50));
  early.cancel();
  EXPECT_EQ(wheel.next_check(), at(150));
  // Beyond one rotation (160 ms): the slot comes up a round early, at 90 (tick 25 -> slot 9).
  Timeout far;
  wheel.schedule(far, at(245));
  EXPECT_EQ(wheel.next_check(), at(90));
  wheel.advance(at(90));  // re-files `far` into its real round
  EXPECT_EQ(wheel.next_check(), at(150));
  wheel.advance(at(150));  // fires `late`
  EXPECT_EQ(wheel.next_check(), at(250));
}

// Whatever is armed, cancelled or fired, next_check() is never after the first due deadline.
TEST_F(TimeoutWheelTest, NextCheckIsNeverLateUnderRandomChurn) {
  TimeoutWheel wheel(start, {milliseconds(10), 32});
  std::mt19937 random(7);
  std::vector<std::unique_ptr<Timeout>> timeouts;
  for (int i = 0; i < 64; ++i) timeouts.push_back(std::make_unique<Timeout>([] {}));
  int now = 0;
  for (int step = 0; step < 5000; ++step) {
    Timeout& timeout = *timeouts[random() % timeouts.size()];
    switch (random() % 4) {
      case 0:
      case 1:
        wheel.schedule(timeout, at(now + 1 + static_cast<int>(random() % 1000)));
        break;
      case 2:
        timeout.cancel();
        break;
      default:
        now += static_cast<int>(random() % 40);
        wheel.advance(at(now));
        break;
    }
    std::optional<Clock::time_point> first_due;
    for (const auto& t : timeouts) {
      if (t->armed() && (!first_due || t->deadline() < *first_due)) first_due = t->deadline();
    }
    const std::optional<Clock::time_point> check = wheel.next_check();
    ASSERT_EQ(check.has_value(), first_due.has_value()) << "step " << step;
    if (check) {
      ASSERT_LE(*check, *first_due + milliseconds(10)) << "step " << step;
      ASSERT_GT(*check, at(now) - milliseconds(10)) << "step " << step;
    }
  }
}

TEST_F(TimeoutWheelTest, AlreadyDueDeadlineFiresOnNextTick) {
  TimeoutWheel wheel(start, {milliseconds(10), 16});
  wheel.advance(at(100));
  int fired = 0;
  Timeout timeout([&] { ++fired; });
  wheel.schedule(timeout, at(50));
  wheel.advance(at(105));
  EXPECT_EQ(fired, 0);
  wheel.advance(at(110));
  EXPECT_EQ(fired, 1);
}

TEST_F(TimeoutWheelTest, ManyRandomTimeoutsFireOnceAndNeverEarly) {
  TimeoutWheel wheel(start, {milliseconds(10), 64});
  std::mt19937 random(42);
  constexpr int count = 5000;
  std::vector<int> fired_at(count, -1);
  std::vector<std::unique_ptr<Timeout>> timeouts;
  int now = 0;
  for (int i = 0; i < count; ++i) {
    timeouts.push_back(std::make_unique<Timeout>([&, i] {
      EXPECT_EQ(fired_at[i], -1);
      fired_at[i] = now;
    }));
    wheel.schedule(*timeouts.back(), at(static_cast<int>(random() % 3000)));
    // Half are pushed back once, like an idle timer on activity.
    if (i % 2 == 0)
      wheel.schedule(*timeouts.back(), timeouts.back()->deadline() + milliseconds(500));
  }
  for (now = 0; now <= 4000; now += 3) wheel.advance(at(now));
  for (int i = 0; i < count; ++i) {
    const auto deadline_ms =
        std::chrono::duration_cast<milliseconds>(timeouts[i]->deadline() - start).count();
    ASSERT_GE(fired_at[i], deadline_ms) << i;
    EXPECT_LE(fired_at[i], deadline_ms + 10 + 3) << i;
  }
}

}  // namespace
}  // namespace wsx::io
