// The sends of one loop iteration's flushes in one io_uring submission
// (EventLoopOptions::batch_sends, src/io/send_batch.cpp): the same bytes in the same order as
// writing each socket on its own, full sockets and failures handled as a plain flush handles
// them, a completion that destroys another stream of the batch or throws, a stream with a
// refused read interest, and a forked child.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io_uring_probe.hpp"
#include "loop_watchdog.hpp"
#include "pattern_text.hpp"
#include "tcp_pair.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/stream.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

using test::kernel_offers_io_uring;
using test::pattern_text;
using test::tcp_pair;

// Sends `outgoing` through a Stream, offered as up to three buffers per gather (the batch
// writes several vectors with sendmsg, one with send). Its gather is pure: it may be batched.
// What the peer sends is kept in `received`.
class Sender final : public StreamHandler {
 public:
  Sender(EventLoop& loop, int fd, std::string outgoing, std::size_t pieces = 3)
      : outgoing(std::move(outgoing)),
        pieces(pieces),
        stream(std::make_unique<Stream>(loop, TcpSocket(fd), *this)) {
    EXPECT_TRUE(stream->is_open());
  }
  void on_stream_data(std::span<std::uint8_t> data) override {
    received.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (on_data) on_data();
  }
  std::size_t gather_output(std::span<ConstBuffer> out) override {
    ++gathers;
    const auto rest =
        std::span(reinterpret_cast<const std::uint8_t*>(outgoing.data()), outgoing.size())
            .subspan(sent);
    if (rest.empty() || out.empty()) return 0;
    // The output is cut into `pieces` equal pieces; a gather offers those from where sending
    // stands, as many as fit, with an empty buffer second when empty_second is set.
    const std::size_t piece = std::max<std::size_t>(1, (outgoing.size() + pieces - 1) / pieces);
    std::size_t at = sent;
    std::size_t count = 0;
    while (at < outgoing.size() && count < out.size()) {
      if (empty_second && count == 1) {
        out[count++] = {};
        continue;
      }
      const std::size_t end = std::min(outgoing.size(), (at / piece + 1) * piece);
      out[count++] = rest.subspan(at - sent, end - at);
      at = end;
    }
    return count;
  }
  void consume_output(std::size_t n) override {
    sent += n;
    EXPECT_LE(sent, outgoing.size());
    if (on_consumed) on_consumed();
  }
  bool gather_is_pure() const noexcept override { return true; }
  void on_stream_drained() override { ++drained; }
  void on_stream_error(std::string_view reason) override {
    error = std::string(reason);
    if (on_error) on_error();
  }

  std::string outgoing;
  std::size_t pieces;
  bool empty_second = false;
  std::size_t sent = 0;
  int gathers = 0;
  int drained = 0;
  std::string error;
  std::string received;
  std::function<void()> on_consumed, on_error, on_data;
  std::unique_ptr<Stream> stream;
};

// Reads a plain fd on the loop until EOF (or until `paused` says not yet).
class Reader final : public IoHandler {
 public:
  Reader(EventLoop& loop, int fd, bool paused = false) : loop_(loop), fd_(fd) {
    EXPECT_FALSE(loop_.add(fd_, paused ? Interest::none : Interest::read, *this));
  }
  ~Reader() {
    loop_.remove(fd_);
    ::close(fd_);
  }
  void start() { EXPECT_FALSE(loop_.modify(fd_, Interest::read)); }
  int fd() const { return fd_; }
  void on_readable() override {
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n > 0) {
        received.append(buffer, static_cast<std::size_t>(n));
        if (on_data) on_data();
        continue;
      }
      if (n == 0) {
        ended = true;
        static_cast<void>(loop_.modify(fd_, Interest::none));
        if (on_data) on_data();
      }
      return;
    }
  }
  std::string received;
  bool ended = false;
  std::function<void()> on_data;

 private:
  EventLoop& loop_;
  int fd_;
};

// Batched where it can be, and only there.
void expect_batched_as_asked(const EventLoop& loop, bool asked) {
  if (asked && kernel_offers_io_uring()) {
    EXPECT_GT(loop.batched_writes(), 0u);
  } else {
    EXPECT_EQ(loop.batched_writes(), 0u);
  }
}

// Flushes are gathered at the end of a loop iteration: asked for from inside one (a posted
// task), they all run at the end of that iteration, together.
void flush_all_in_one_iteration(EventLoop& loop, std::vector<std::unique_ptr<Sender>>& senders) {
  loop.post([&senders] {
    for (const auto& sender : senders) sender->stream->request_flush();
  });
}

// Senders, each with a Reader at the other end of its connection, on one loop; the loop stops
// once every reader has all that its sender has to send so far.
class Streams {
 public:
  explicit Streams(EventLoop& loop) : loop_(loop) {}

  // `buffer_size` > 0: small socket buffers (tcp_pair); `paused`: the reader waits for start().
  Sender& add(std::string outgoing, std::size_t pieces = 3, int buffer_size = 0,
              bool paused = false) {
    const auto [server, client] = tcp_pair(buffer_size);
    senders.push_back(std::make_unique<Sender>(loop_, server, std::move(outgoing), pieces));
    readers.push_back(std::make_unique<Reader>(loop_, client, paused));
    readers.back()->on_data = [this] {
      if (all_arrived()) loop_.stop();
    };
    return *senders.back();
  }
  bool all_arrived() const {
    for (std::size_t i = 0; i < senders.size(); ++i) {
      if (i != ignored && readers[i]->received.size() < senders[i]->outgoing.size()) return false;
    }
    return true;
  }
  // Each reader has exactly its sender's bytes: none lost, none twice, in order.
  void expect_exactly_what_was_sent() const {
    for (std::size_t i = 0; i < senders.size(); ++i) {
      EXPECT_EQ(readers[i]->received.size(), senders[i]->outgoing.size()) << "stream " << i;
      EXPECT_TRUE(readers[i]->received == senders[i]->outgoing) << "stream " << i;
      EXPECT_EQ(senders[i]->error, "") << "stream " << i;
    }
  }
  // Asks every stream to flush from inside one iteration: together, in one batch.
  void flush_all() { flush_all_in_one_iteration(loop_, senders); }

  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::unique_ptr<Reader>> readers;
  static constexpr std::size_t none = SIZE_MAX;
  std::size_t ignored = none;  // a stream all_arrived() leaves out

 private:
  EventLoop& loop_;
};

class BatchedFlush : public ::testing::TestWithParam<bool> {
 protected:
  EventLoopOptions options() const {
    EventLoopOptions options;
    options.batch_sends = GetParam();
    return options;
  }
  // Whether this test's flushes go through the ring.
  bool batching() const { return GetParam() && kernel_offers_io_uring(); }
};

INSTANTIATE_TEST_SUITE_P(Sends, BatchedFlush, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Batched" : "OneByOne"; });

// 300 streams flush in the same iteration (the first 270 small: more than one submission's
// 256 entries; the last 30 up to 300 KiB, some too large for the batch); every reader gets its
// stream's bytes whole and in order.
TEST_P(BatchedFlush, EveryStreamsBytesArriveWholeAndInOrder) {
  EventLoop loop(options());
  test::arm_watchdog(loop, 60s);
  Streams streams(loop);
  for (std::size_t i = 0; i < 300; ++i) {
    // 1 B (one vector: send) or several vectors (sendmsg); then writes to 300 KiB.
    const std::size_t size =
        i < 270 ? (i % 7 == 0 ? 1 : (i * 131) % 4096 + 2) : (i - 269) * 10 * 1024 + i;
    streams.add(pattern_text(size, unsigned(i)));
  }
  streams.flush_all();
  loop.run();
  ASSERT_TRUE(streams.all_arrived());
  streams.expect_exactly_what_was_sent();
  expect_batched_as_asked(loop, GetParam());
  if (batching()) EXPECT_GE(loop.batched_writes(), 270u);
}

// A handler with more buffers than one write takes (64), or with an empty one among them: the
// rest is written after the first write, nothing stalls.
TEST_P(BatchedFlush, MoreBuffersThanOneWriteTakesAllArrive) {
  EventLoop loop(options());
  test::arm_watchdog(loop);
  Streams streams(loop);
  const std::size_t pieces[] = {100, 100, 64, 65};
  for (std::size_t i = 0; i < 4; ++i) {
    Sender& sender = streams.add(pattern_text(6400, unsigned(i)), pieces[i]);
    sender.empty_second = i == 1;  // 64 offered, 63 of them with bytes
  }
  streams.flush_all();
  loop.run();
  ASSERT_TRUE(streams.all_arrived());
  streams.expect_exactly_what_was_sent();
  expect_batched_as_asked(loop, GetParam());
}

// Readers that do not read yet: the sockets fill up, a batched write takes what fits and the
// stream waits for room as a plain flush does, then everything arrives once reading starts.
TEST_P(BatchedFlush, AFullSocketWaitsForRoomThenDrains) {
  EventLoop loop(options());
  test::arm_watchdog(loop, 60s);
  Streams streams(loop);
  for (std::size_t i = 0; i < 8; ++i) {
    // Far more than the shrunk socket buffers hold, and no more than one batched write takes.
    streams.add(pattern_text(200 * 1024, unsigned(i)), 3, 16 * 1024, /*paused=*/true);
  }
  streams.flush_all();
  loop.run_after(200ms, [&] {
    for (const auto& sender : streams.senders) EXPECT_TRUE(sender->stream->write_blocked());
    for (const auto& reader : streams.readers) reader->start();
  });
  loop.run();
  ASSERT_TRUE(streams.all_arrived());
  streams.expect_exactly_what_was_sent();
  for (std::size_t i = 0; i < streams.senders.size(); ++i) {
    EXPECT_GT(streams.senders[i]->drained, 0) << "stream " << i;
  }
}

// A peer that reset the connection: the write fails the stream with the reason, as a plain
// write does, and the other streams of the batch are not disturbed.
TEST_P(BatchedFlush, AWriteToAResetPeerFailsThatStreamOnly) {
  EventLoop loop(options());
  test::arm_watchdog(loop);
  const auto [reset_server, reset_client] = tcp_pair();
  const auto [good_server, good_client] = tcp_pair();
  // The reset arrives before the first write: the kernel answers it with ECONNRESET (or EPIPE).
  const linger abort{1, 0};
  ASSERT_EQ(::setsockopt(reset_client, SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  ::close(reset_client);
  char byte;
  for (int i = 0; i < 100 && ::recv(reset_server, &byte, 1, 0) != 0 && errno == EAGAIN; ++i) {
    std::this_thread::sleep_for(10ms);  // until the RST is there (recv reports it)
  }
  Sender failing(loop, reset_server, "to nobody");
  Sender good(loop, good_server, pattern_text(5000, 7));
  Reader reader(loop, good_client);
  int done = 0;
  failing.on_error = [&] {
    if (++done == 2) loop.stop();
  };
  reader.on_data = [&] {
    if (reader.received.size() == 5000 && ++done == 2) loop.stop();
  };
  loop.post([&] {
    failing.stream->request_flush();
    good.stream->request_flush();
  });
  loop.run();
  EXPECT_EQ(done, 2);
  EXPECT_NE(failing.error.find("write failed"), std::string::npos) << failing.error;
  EXPECT_FALSE(failing.stream->is_open());
  EXPECT_TRUE(reader.received == good.outgoing);
}

// The application may run when a batched write is reported (consume_output); if it destroys
// another stream whose write was in the same batch, that stream's report is dropped, not
// delivered to freed memory (AddressSanitizer would see it), and the rest go on.
TEST_P(BatchedFlush, AReportThatDestroysAnotherStreamOfTheBatch) {
  EventLoop loop(options());
  test::arm_watchdog(loop);
  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::unique_ptr<Reader>> readers;
  for (int i = 0; i < 3; ++i) {
    const auto [server, client] = tcp_pair();
    senders.push_back(std::make_unique<Sender>(loop, server, pattern_text(1000, unsigned(i))));
    readers.push_back(std::make_unique<Reader>(loop, client));
  }
  // Whichever of the first two is told first destroys the other.
  senders[0]->on_consumed = [&] {
    if (senders[1]) senders[1].reset();
  };
  senders[1]->on_consumed = [&] {
    if (senders[0]) senders[0].reset();
  };
  readers[2]->on_data = [&] {
    if (readers[2]->received.size() == 1000) loop.stop();
  };
  flush_all_in_one_iteration(loop, senders);
  loop.run();
  EXPECT_EQ(!senders[0] + !senders[1], 1);  // exactly one was destroyed
  EXPECT_TRUE(readers[2]->received == senders[2]->outgoing);
}

// A stream whose shutdown is due flushes the usual way (its last bytes wait for the FIN): the
// bytes arrive, then the end of the stream.
TEST_P(BatchedFlush, AShutdownAfterOutputLeavesTheBatchAndSendsTheFin) {
  EventLoop loop(options());
  test::arm_watchdog(loop);
  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::unique_ptr<Reader>> readers;
  int ended = 0;
  for (int i = 0; i < 4; ++i) {
    const auto [server, client] = tcp_pair();
    senders.push_back(std::make_unique<Sender>(loop, server, pattern_text(3000, unsigned(i))));
    readers.push_back(std::make_unique<Reader>(loop, client));
    Reader* reader = readers.back().get();
    reader->on_data = [&, reader] {
      if (reader->ended && ++ended == 4) loop.stop();
    };
  }
  loop.post([&] {
    for (const auto& sender : senders) sender->stream->shutdown();
  });
  loop.run();
  EXPECT_EQ(ended, 4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(readers[i]->received == senders[i]->outgoing);
}

// Application code reached from a report or a flush (consume_output) throws for one stream of
// a round: four small streams (one batch) and two of 300 KiB, more than one batched write takes
// (TcpSocket::max_single_write), which flush the usual way after the batch. The exception
// leaves run() (event_loop.hpp), after every stream of the batch has heard how its write went:
// a report lost to it would leave bytes that were sent in the stream's output, sent again by
// its next flush. The streams not flushed yet (after the batch, or not reached in a one-by-one
// round) flush when the loop runs again, without being asked again. The throwing stream's own
// rest is its owner's to ask for again.
void expect_a_throw_leaves_nothing_behind(bool batch_sends, std::size_t thrower) {
  EventLoopOptions options;
  options.batch_sends = batch_sends;
  EventLoop loop(options);
  test::arm_watchdog(loop);
  Streams streams(loop);
  for (std::size_t i = 0; i < 4; ++i) streams.add(pattern_text(3000, unsigned(i)));
  for (std::size_t i = 4; i < 6; ++i) streams.add(pattern_text(300 * 1024, unsigned(i)));
  bool thrown = false;
  streams.senders[thrower]->on_consumed = [&] {
    if (std::exchange(thrown, true)) return;
    throw std::runtime_error("from the application");
  };
  streams.flush_all();  // in this order: reported and flushed in it
  try {
    loop.run();
    ADD_FAILURE() << "run() returned without the exception";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "from the application");
  }
  ASSERT_TRUE(thrown);
  if (batch_sends && kernel_offers_io_uring()) {
    // Every write of the batch was made, and each has been reported.
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(streams.senders[i]->sent, 3000u) << "stream " << i;
    }
  }
  // The loop runs again, and nothing is asked of it: what the round left goes out by itself
  // (any flush asked for would take the forgotten ones along, so none is until they are out).
  streams.ignored = thrower;
  if (!streams.all_arrived()) loop.run();
  ASSERT_TRUE(streams.all_arrived());
  streams.ignored = Streams::none;
  streams.senders[thrower]->stream->request_flush();
  if (!streams.all_arrived()) loop.run();
  ASSERT_TRUE(streams.all_arrived());
  for (const auto& sender : streams.senders) EXPECT_EQ(sender->sent, sender->outgoing.size());
  // More output for every stream: each sends only the new bytes (a write whose report was lost
  // would go out again here).
  for (std::size_t i = 0; i < streams.senders.size(); ++i) {
    streams.senders[i]->outgoing += pattern_text(500, unsigned(100 + i));
  }
  streams.flush_all();
  loop.run();
  ASSERT_TRUE(streams.all_arrived());
  // The streams end, so that nothing more can be on its way: each reader has exactly its bytes.
  std::size_t ended = 0;
  for (const auto& reader : streams.readers) {
    reader->on_data = [&, reader = reader.get()] {
      if (reader->ended && ++ended == streams.readers.size()) loop.stop();
    };
  }
  for (const auto& sender : streams.senders) sender->stream->close();
  loop.run();
  EXPECT_EQ(ended, streams.readers.size());
  streams.expect_exactly_what_was_sent();
  expect_batched_as_asked(loop, batch_sends);
}

TEST_P(BatchedFlush, AReportThatThrowsLeavesRunAfterEveryOtherReport) {
  expect_a_throw_leaves_nothing_behind(GetParam(), 0);  // reported first
}

TEST_P(BatchedFlush, AFlushAfterTheBatchThatThrowsLeavesTheNextOneForTheNextRun) {
  expect_a_throw_leaves_nothing_behind(GetParam(), 4);  // the first after the batch
}

// A stream whose read interest the loop refused (565d3d3) while it has output waiting in a round
// that is batched: the refusal is asked about again by the stream's usual flush, which the batch
// leaves it to, and the peer's bytes that follow reach it. From the batch (whose report asks
// nothing about reading), the read interest would never be asked for again: the stream would
// not hear of its input (the watchdog ends the test). The loop refuses as in stream_test.cpp's
// RefusingLoop: after pause_reading() the stream is still in the epoll set until the next wait,
// so resuming is EPOLL_CTL_MOD, which finds no registration while the descriptor number names
// another socket (ENOENT).
TEST_P(BatchedFlush, AReadInterestRefusedWhileOutputWaitsIsAskedForByTheUsualFlush) {
  EventLoop loop(options());
  test::arm_watchdog(loop);
  Streams streams(loop);
  for (std::size_t i = 0; i < 4; ++i) streams.add(pattern_text(2000, unsigned(i)));
  Sender& refused = *streams.senders[0];
  int other[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, other), 0);
  const std::string text = "sent after the refusal";
  const auto done = [&] {
    if (streams.all_arrived() && refused.received == text) loop.stop();
  };
  refused.on_data = done;
  for (const auto& reader : streams.readers) reader->on_data = done;
  loop.post([&] {
    refused.stream->pause_reading();
    const int fd = refused.stream->socket().fd();
    const int saved = ::dup(fd);
    ASSERT_GE(saved, 0);
    ASSERT_EQ(::dup2(other[0], fd), fd);
    refused.stream->resume_reading();  // refused
    ASSERT_EQ(::dup3(saved, fd, O_CLOEXEC), fd);
    ::close(saved);
    // Output waits in every stream, the refused one's too: they flush in one round.
    for (const auto& sender : streams.senders) sender->stream->request_flush();
    ASSERT_EQ(::send(streams.readers[0]->fd(), text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
  });
  loop.run();
  EXPECT_EQ(refused.received, text);
  streams.expect_exactly_what_was_sent();
  expect_batched_as_asked(loop, GetParam());  // the others' writes were batched
  ::close(other[0]);
  ::close(other[1]);
}

// A forked child (a pre-fork server, a daemon) runs the loop its parent made, whose ring the
// parent set up: the ring is the parent's alone (SINGLE_ISSUER refuses any other task, and its
// queues are shared memory). The child's batch sets up a ring of its own and its streams' bytes
// arrive; the parent's batching goes on unharmed afterwards.
TEST_P(BatchedFlush, AForkedChildSendsWithARingOfItsOwn) {
  EventLoop loop(options());
  test::arm_watchdog(loop);
  Streams streams(loop);
  for (std::size_t i = 0; i < 4; ++i) streams.add(pattern_text(2000, unsigned(i)));
  streams.flush_all();
  loop.run();
  ASSERT_TRUE(streams.all_arrived());
  const std::uint64_t parent_writes = loop.batched_writes();
  if (batching()) ASSERT_GT(parent_writes, 0u);  // the parent's ring exists
  // Each round sends this much more on every stream.
  const auto send_more = [&](unsigned salt) {
    for (std::size_t i = 0; i < streams.senders.size(); ++i) {
      streams.senders[i]->outgoing += pattern_text(1500, unsigned(salt + i));
    }
    streams.flush_all();
  };

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // No GoogleTest assertion here (a child's failures reach nobody): the exit code says what
    // went wrong. The parent's watchdog timer is still armed in the copied loop.
    send_more(50);
    loop.run();
    int code = 0;
    if (!streams.all_arrived()) {
      code = 1;
    } else {
      for (std::size_t i = 0; i < streams.senders.size(); ++i) {
        if (streams.readers[i]->received != streams.senders[i]->outgoing) code = 2;
      }
    }
    const bool own_ring = loop.batched_writes() > parent_writes;
    if (code == 0 && own_ring != batching()) code = 3;
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  // 1: the bytes did not all arrive; 2: they arrived wrong; 3: the child's batch was not its
  // own (it reached its parent's ring, which refused it) or it batched where it should not.
  EXPECT_EQ(WEXITSTATUS(status), 0);

  // The child sent (and its readers read) its own additions on the shared sockets; the
  // parent's streams and readers know nothing of them and go on from where they were.
  send_more(80);
  loop.run();
  ASSERT_TRUE(streams.all_arrived());
  streams.expect_exactly_what_was_sent();
  if (batching()) EXPECT_GT(loop.batched_writes(), parent_writes);
}

}  // namespace
}  // namespace wsx::io
