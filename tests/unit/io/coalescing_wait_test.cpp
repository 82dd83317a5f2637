// The event loop's coalescing pause (EventLoopOptions::coalesce_wait, src/io/coalescing_wait.hpp):
// when it pauses, that a pause lets sockets that became ready meanwhile join the same pass, and
// that pauses which gather nothing are skipped for a growing number of wake-ups.
#include "io/coalescing_wait.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <thread>
#include <vector>

#include "loop_watchdog.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;
using detail::CoalescingWait;

TEST(CoalescingWait, OffByDefaultAndWithAZeroPause) {
  EXPECT_EQ(EventLoopOptions{}.coalesce_wait.count(), 0);
  CoalescingWait off(0us);
  for (int ready = 0; ready < 20; ++ready) EXPECT_FALSE(off.due(ready)) << ready;
}

TEST(CoalescingWait, PausesOnlyForAFewReadySockets) {
  CoalescingWait wait(50us);
  EXPECT_FALSE(wait.due(0));  // a timeout or a signal: nothing to gather for
  for (int ready = 1; ready < CoalescingWait::enough_ready; ++ready) {
    EXPECT_TRUE(wait.due(ready)) << ready;
  }
  EXPECT_FALSE(wait.due(CoalescingWait::enough_ready));
  EXPECT_FALSE(wait.due(200));
}

// Counts the wake-ups among the next `wakeups` that would pause, each pause gathering nothing.
int fruitless_pauses(CoalescingWait& wait, int wakeups) {
  int pauses = 0;
  for (int i = 0; i < wakeups; ++i) {
    if (!wait.due(1)) continue;
    ++pauses;
    wait.paused(1, 1);
  }
  return pauses;
}

TEST(CoalescingWait, FruitlessPausesAreSkippedForDoublingStretches) {
  CoalescingWait wait(50us);
  // Pauses at wake-ups 1, 3, 6, 11, 20, 37, 70: skips of 1, 2, 4, 8, 16, 32 between them.
  EXPECT_EQ(fruitless_pauses(wait, 70), 7);
  EXPECT_EQ(wait.pauses(), 7u);
  // The stretch stops growing at max_skip: one pause per max_skip + 1 wake-ups from then on.
  fruitless_pauses(wait, 4 * 1024);
  EXPECT_EQ(fruitless_pauses(wait, 10 * (CoalescingWait::max_skip + 1)), 10);
}

TEST(CoalescingWait, APauseThatGathersMoreKeepsPausing) {
  CoalescingWait wait(50us);
  EXPECT_EQ(fruitless_pauses(wait, 70), 7);  // skipping 64 wake-ups now
  for (int i = 0; i < 64; ++i) EXPECT_FALSE(wait.due(1));
  ASSERT_TRUE(wait.due(1));
  wait.paused(1, 5);  // sockets keep coming: pause at every wake-up again
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(wait.due(3)) << i;
    wait.paused(3, 9);
  }
  EXPECT_EQ(wait.pauses(), 7u + 1 + 10);
}

// A socketpair end registered for reading: records the loop iteration of each read.
class RecordingReader final : public IoHandler {
 public:
  RecordingReader(EventLoop& loop, int fd) : loop_(loop), fd_(fd) {}
  void on_readable() override {
    std::array<char, 256> buffer{};
    const ssize_t got = ::read(fd_, buffer.data(), buffer.size());
    if (got <= 0) return;
    bytes += static_cast<std::size_t>(got);
    iterations.push_back(loop_.iterations());
    if (on_read) on_read(*this);
  }
  EventLoop& loop_;
  int fd_;
  std::size_t bytes = 0;
  std::vector<std::uint64_t> iterations;
  std::function<void(RecordingReader&)> on_read;
};

struct SocketPair {
  SocketPair() {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()), 0);
  }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  std::array<int, 2> fds{-1, -1};
};

TEST(EventLoopCoalescing, ALoopWithoutItNeverPauses) {
  EventLoop loop;
  test::arm_watchdog(loop, 10s);
  SocketPair pairs[4];
  std::vector<std::unique_ptr<RecordingReader>> readers;
  std::size_t total = 0;
  for (auto& pair : pairs) {
    readers.push_back(std::make_unique<RecordingReader>(loop, pair.fds[0]));
    readers.back()->on_read = [&](RecordingReader&) {
      if (++total == 4) loop.stop();
    };
    ASSERT_FALSE(loop.add(pair.fds[0], Interest::read, *readers.back()));
  }
  for (auto& pair : pairs) ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  loop.run();
  EXPECT_EQ(total, 4u);
  EXPECT_EQ(loop.coalescing_pauses(), 0u);
  for (auto& pair : pairs) loop.remove(pair.fds[0]);
}

// One socket becomes ready, a second one 20 ms later: a wake-up for the first pauses (500 ms)
// and the second joins the same pass.
TEST(EventLoopCoalescing, SocketsReadyDuringThePauseJoinThePass) {
  EventLoop loop({.coalesce_wait = 500ms});
  test::arm_watchdog(loop, 20s);
  SocketPair first, second;
  RecordingReader first_reader(loop, first.fds[0]), second_reader(loop, second.fds[0]);
  second_reader.on_read = [&](RecordingReader&) { loop.stop(); };
  ASSERT_FALSE(loop.add(first.fds[0], Interest::read, first_reader));
  ASSERT_FALSE(loop.add(second.fds[0], Interest::read, second_reader));
  std::thread writer([&] {
    EXPECT_EQ(::write(first.fds[1], "a", 1), 1);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(::write(second.fds[1], "b", 1), 1);
  });
  loop.run();
  writer.join();
  ASSERT_EQ(first_reader.iterations.size(), 1u);
  ASSERT_EQ(second_reader.iterations.size(), 1u);
  EXPECT_EQ(first_reader.iterations[0], second_reader.iterations[0]);
  EXPECT_GE(loop.coalescing_pauses(), 1u);
  loop.remove(first.fds[0]);
  loop.remove(second.fds[0]);
}

// A lone connection answering one message at a time gathers nothing by pausing: after the
// first few fruitless pauses the loop stops paying them.
TEST(EventLoopCoalescing, ALoneConnectionSeldomPays) {
  EventLoop loop({.coalesce_wait = 2ms});
  test::arm_watchdog(loop, 20s);
  SocketPair pair;
  RecordingReader reader(loop, pair.fds[0]);
  constexpr int round_trips = 300;
  int answered = 0;
  reader.on_read = [&](RecordingReader&) {
    if (++answered == round_trips) {
      loop.stop();
      return;
    }
    EXPECT_EQ(::write(pair.fds[0], "p", 1), 1);  // the peer answers each with one more
  };
  ASSERT_FALSE(loop.add(pair.fds[0], Interest::read, reader));
  std::thread peer([&] {
    char byte = 0;
    EXPECT_EQ(::write(pair.fds[1], "p", 1), 1);
    for (int i = 1; i < round_trips; ++i) {
      while (::read(pair.fds[1], &byte, 1) != 1) std::this_thread::sleep_for(50us);
      if (::write(pair.fds[1], "p", 1) != 1) break;
    }
  });
  loop.run();
  peer.join();
  EXPECT_EQ(answered, round_trips);
  // 300 wake-ups with one socket each: pauses at 1, 3, 6, 11, 20, 37, 70, 135, 264 (9); without
  // the back-off it would be 300.
  EXPECT_GE(loop.coalescing_pauses(), 1u);
  EXPECT_LE(loop.coalescing_pauses(), 12u);
  loop.remove(pair.fds[0]);
}

}  // namespace
}  // namespace wsx::io
