// The event loop's coalescing pause (EventLoopOptions::coalesce_wait, src/io/coalescing_wait.hpp):
// when it pauses, that a pause lets sockets that became ready meanwhile join the same pass, and
// that pauses which gather nothing are skipped for a growing number of wake-ups.
#include "io/coalescing_wait.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
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

TEST(CoalescingWait, APauseMustAtLeastDoubleWhatIsReady) {
  CoalescingWait wait(50us);
  ASSERT_TRUE(wait.due(1));
  wait.paused(1, 2);  // two connections taking turns: one more is not worth a pause
  EXPECT_FALSE(wait.due(1));
  ASSERT_TRUE(wait.due(4));
  wait.paused(4, 7);  // fewer than twice as many
  EXPECT_FALSE(wait.due(4));
  EXPECT_FALSE(wait.due(4));
  ASSERT_TRUE(wait.due(4));
  wait.paused(4, 8);
  EXPECT_TRUE(wait.due(4));
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
    ++calls;  // every dispatch, also one that reads nothing (a second dispatch of one event)
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
  int calls = 0;
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

// Whether thread `tid` of this process is blocked in the system call `number` (Linux's
// /proc/<pid>/task/<tid>/syscall starts with the number of the call a blocked thread is in).
bool blocked_in(pid_t tid, long number) {
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long current = -1;
  return static_cast<bool>(file >> current) && current == number;
}

struct PassOutcome {
  bool joined = false;  // both sockets were read in the same pass
  int first_calls = 0, second_calls = 0;
  std::uint64_t pauses = 0;
};

// One socket becomes ready; once the loop sleeps in its pause (ppoll), a second one does. It
// must join the pass the first one woke.
PassOutcome second_socket_during_the_pause() {
  EventLoop loop({.coalesce_wait = max_coalesce_wait});
  test::arm_watchdog(loop, 20s);
  SocketPair first, second;
  RecordingReader first_reader(loop, first.fds[0]), second_reader(loop, second.fds[0]);
  second_reader.on_read = [&](RecordingReader&) { loop.stop(); };
  EXPECT_FALSE(loop.add(first.fds[0], Interest::read, first_reader));
  EXPECT_FALSE(loop.add(second.fds[0], Interest::read, second_reader));
  const pid_t loop_thread = static_cast<pid_t>(::syscall(SYS_gettid));
  std::thread writer([&] {
    EXPECT_EQ(::write(first.fds[1], "a", 1), 1);
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (!blocked_in(loop_thread, SYS_ppoll) && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    EXPECT_EQ(::write(second.fds[1], "b", 1), 1);
  });
  loop.run();
  writer.join();
  loop.remove(first.fds[0]);
  loop.remove(second.fds[0]);
  PassOutcome outcome{.first_calls = first_reader.calls,
                      .second_calls = second_reader.calls,
                      .pauses = loop.coalescing_pauses()};
  outcome.joined = first_reader.iterations.size() == 1 && second_reader.iterations.size() == 1 &&
                   first_reader.iterations[0] == second_reader.iterations[0];
  return outcome;
}

TEST(EventLoopCoalescing, SocketsReadyDuringThePauseJoinThePass) {
  // The writer may be descheduled for longer than the pause between seeing it and writing on a
  // loaded machine: then the second socket comes in the next pass. A few tries.
  PassOutcome outcome;
  for (int attempt = 0; attempt < 5 && !outcome.joined; ++attempt) {
    outcome = second_socket_during_the_pause();
  }
  EXPECT_TRUE(outcome.joined);
  EXPECT_EQ(outcome.first_calls, 1);  // the first look's event was not dispatched as well
  EXPECT_EQ(outcome.second_calls, 1);
  EXPECT_EQ(outcome.pauses, 1u);
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
  // 300 wake-ups with one socket each: pauses at 1, 3, 6, 11, 20, 37, 70, 135, 264; without
  // the back-off it would be 300. (Timer wake-ups find no socket and do not count.)
  EXPECT_EQ(loop.coalescing_pauses(), 9u);
  loop.remove(pair.fds[0]);
}

// A post (stop() from another thread, a server's shutdown) is handled at once: a wake-up that
// finds one does not pause, whatever else is ready.
TEST(EventLoopCoalescing, AWakeUpWithAPostDoesNotPause) {
  EventLoop loop({.coalesce_wait = max_coalesce_wait});
  test::arm_watchdog(loop, 10s);
  SocketPair pair;
  RecordingReader reader(loop, pair.fds[0]);
  ASSERT_FALSE(loop.add(pair.fds[0], Interest::read, reader));
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  loop.post([&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(reader.calls, 1);
  EXPECT_EQ(loop.coalescing_pauses(), 0u);
  loop.remove(pair.fds[0]);
}

// A timer due at the wake-up is not held back by a pause.
TEST(EventLoopCoalescing, ADueTimerCutsThePauseToNothing) {
  EventLoop loop({.coalesce_wait = max_coalesce_wait});
  test::arm_watchdog(loop, 10s);
  SocketPair pair;
  RecordingReader reader(loop, pair.fds[0]);
  ASSERT_FALSE(loop.add(pair.fds[0], Interest::read, reader));
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  loop.run_after(0ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(reader.calls, 1);
  EXPECT_EQ(loop.coalescing_pauses(), 0u);
  loop.remove(pair.fds[0]);
}

TEST(EventLoopCoalescing, APauseOverTenMillisecondsIsRefused) {
  EXPECT_THROW(EventLoop({.coalesce_wait = max_coalesce_wait + 1us}), std::invalid_argument);
  EXPECT_THROW(EventLoop({.coalesce_wait = -1us}), std::invalid_argument);
  EventLoop longest({.coalesce_wait = max_coalesce_wait});
  EXPECT_EQ(longest.coalescing_pauses(), 0u);
}

}  // namespace
}  // namespace wsx::io
