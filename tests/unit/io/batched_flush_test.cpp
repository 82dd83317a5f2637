// The sends of one loop iteration's flushes in one io_uring submission
// (EventLoopOptions::batch_sends, src/io/send_batch.cpp): the same bytes in the same order as
// writing each socket on its own, full sockets and failures handled as a plain flush handles
// them, and a completion that destroys another stream of the batch.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "loop_watchdog.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/stream.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

std::string pattern_text(std::size_t size, unsigned salt) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>(i * 31 + i / 977 + salt);
  return text;
}

// A connected loopback TCP pair: [0] for the Stream, [1] for the reader.
std::array<int, 2> tcp_pair(int buffer_size = 0) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::listen(listener, 1), 0);
  EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (buffer_size > 0) {
    EXPECT_EQ(::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &buffer_size, sizeof buffer_size), 0);
  }
  EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  EXPECT_GE(server, 0);
  ::close(listener);
  const int one = 1;
  ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (buffer_size > 0) {
    EXPECT_EQ(::setsockopt(server, SOL_SOCKET, SO_SNDBUF, &buffer_size, sizeof buffer_size), 0);
  }
  ::fcntl(client, F_SETFL, ::fcntl(client, F_GETFL) | O_NONBLOCK);
  return {server, client};
}

// Sends `outgoing` through a Stream, offered as up to three buffers per gather (the batch
// writes several vectors with sendmsg, one with send). Its gather is pure: it may be batched.
class Sender final : public StreamHandler {
 public:
  Sender(EventLoop& loop, int fd, std::string outgoing, std::size_t pieces = 3)
      : outgoing(std::move(outgoing)),
        pieces(pieces),
        stream(std::make_unique<Stream>(loop, TcpSocket(fd), *this)) {
    EXPECT_TRUE(stream->is_open());
  }
  void on_stream_data(std::span<std::uint8_t>) override {}
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
  std::function<void()> on_consumed, on_error;
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

// Whether this process may use io_uring (the batch falls back to one write per socket where it
// may not: no liburing at build time, seccomp, kernel.io_uring_disabled, an old kernel).
#ifndef WSX_EXPECT_LIBURING
#error "the build defines WSX_EXPECT_LIBURING: whether the library was built with liburing"
#endif
bool kernel_offers_io_uring() {
#if WSX_EXPECT_LIBURING
  io_uring_params params{};
  params.flags = IORING_SETUP_SUBMIT_ALL;
  const long fd = ::syscall(__NR_io_uring_setup, 4, &params);
  if (fd < 0) return false;
  ::close(static_cast<int>(fd));
  return true;
#else
  return false;
#endif
}

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

class BatchedFlush : public ::testing::TestWithParam<bool> {
 protected:
  EventLoopOptions options() const {
    EventLoopOptions options;
    options.batch_sends = GetParam();
    return options;
  }
};

INSTANTIATE_TEST_SUITE_P(Sends, BatchedFlush, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Batched" : "OneByOne"; });

// 300 streams flush in the same iteration (the first 270 small: more than one submission's
// 256 entries; the last 30 up to 300 KiB, some too large for the batch); every reader gets its
// stream's bytes whole and in order.
TEST_P(BatchedFlush, EveryStreamsBytesArriveWholeAndInOrder) {
  EventLoop loop(options());
  test::arm_watchdog(loop, 60s);
  constexpr std::size_t count = 300;
  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::unique_ptr<Reader>> readers;
  std::size_t complete = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto [server, client] = tcp_pair();
    // 1 B (one vector: send) or several vectors (sendmsg); then writes to 300 KiB.
    const std::size_t size =
        i < 270 ? (i % 7 == 0 ? 1 : (i * 131) % 4096 + 2) : (i - 269) * 10 * 1024 + i;
    senders.push_back(std::make_unique<Sender>(loop, server, pattern_text(size, unsigned(i))));
    readers.push_back(std::make_unique<Reader>(loop, client));
    Reader* reader = readers.back().get();
    reader->on_data = [&, reader, size] {
      if (reader->received.size() == size && ++complete == count) loop.stop();
    };
  }
  flush_all_in_one_iteration(loop, senders);
  loop.run();
  ASSERT_EQ(complete, count);
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_TRUE(readers[i]->received == senders[i]->outgoing) << "stream " << i;
    EXPECT_EQ(senders[i]->error, "");
  }
  expect_batched_as_asked(loop, GetParam());
  if (GetParam() && kernel_offers_io_uring()) EXPECT_GE(loop.batched_writes(), 270u);
}

// A handler with more buffers than one write takes (64), or with an empty one among them: the
// rest is written after the first write, nothing stalls.
TEST_P(BatchedFlush, MoreBuffersThanOneWriteTakesAllArrive) {
  EventLoop loop(options());
  test::arm_watchdog(loop);
  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::unique_ptr<Reader>> readers;
  std::size_t complete = 0;
  const std::size_t pieces[] = {100, 100, 64, 65};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto [server, client] = tcp_pair();
    senders.push_back(
        std::make_unique<Sender>(loop, server, pattern_text(6400, unsigned(i)), pieces[i]));
    senders.back()->empty_second = i == 1;  // 64 offered, 63 of them with bytes
    readers.push_back(std::make_unique<Reader>(loop, client));
    Reader* reader = readers.back().get();
    reader->on_data = [&, reader] {
      if (reader->received.size() == 6400 && ++complete == 4) loop.stop();
    };
  }
  flush_all_in_one_iteration(loop, senders);
  loop.run();
  ASSERT_EQ(complete, 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(readers[i]->received == senders[i]->outgoing);
  expect_batched_as_asked(loop, GetParam());
}

// Readers that do not read yet: the sockets fill up, a batched write takes what fits and the
// stream waits for room as a plain flush does, then everything arrives once reading starts.
TEST_P(BatchedFlush, AFullSocketWaitsForRoomThenDrains) {
  EventLoop loop(options());
  test::arm_watchdog(loop, 60s);
  constexpr std::size_t count = 8;
  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::unique_ptr<Reader>> readers;
  std::size_t complete = 0;
  // Far more than the shrunk socket buffers hold, and no more than one batched write takes.
  const std::size_t size = 200 * 1024;
  for (std::size_t i = 0; i < count; ++i) {
    const auto [server, client] = tcp_pair(16 * 1024);
    senders.push_back(std::make_unique<Sender>(loop, server, pattern_text(size, unsigned(i))));
    readers.push_back(std::make_unique<Reader>(loop, client, /*paused=*/true));
    Reader* reader = readers.back().get();
    reader->on_data = [&, reader] {
      if (reader->received.size() == size && ++complete == count) loop.stop();
    };
  }
  flush_all_in_one_iteration(loop, senders);
  loop.run_after(200ms, [&] {
    for (const auto& sender : senders) EXPECT_TRUE(sender->stream->write_blocked());
    for (const auto& reader : readers) reader->start();
  });
  loop.run();
  ASSERT_EQ(complete, count);
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_TRUE(readers[i]->received == senders[i]->outgoing) << "stream " << i;
    EXPECT_GT(senders[i]->drained, 0) << "stream " << i;
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

}  // namespace
}  // namespace wsx::io
