// The sends of one loop iteration's flushes in one io_uring submission
// (EventLoopOptions::batch_sends, src/io/send_batch.cpp): the same bytes in the same order as
// writing each socket on its own, full sockets and failures handled as a plain flush handles
// them, and a completion that destroys another stream of the batch.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
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
  Sender(EventLoop& loop, int fd, std::string outgoing)
      : outgoing(std::move(outgoing)),
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
    const std::size_t pieces = std::min<std::size_t>({3, out.size(), rest.size()});
    std::size_t at = 0;
    for (std::size_t i = 0; i < pieces; ++i) {
      const std::size_t size = i + 1 == pieces ? rest.size() - at : rest.size() / pieces;
      out[i] = rest.subspan(at, size);
      at += size;
    }
    return pieces;
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

// io_uring descriptors this process holds: the batch sets one up per loop on first use.
int io_uring_descriptors() {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const auto target = std::filesystem::read_symlink(entry.path(), error);
    if (!error && target.string().find("io_uring") != std::string::npos) ++count;
  }
  return count;
}

// Whether this machine lets a process use io_uring (the batch falls back to one write per
// socket where it does not, and the tests then check that fallback instead).
bool kernel_offers_io_uring() {
#if WSX_EXPECT_LIBURING
  std::ifstream disabled("/proc/sys/kernel/io_uring_disabled");
  int value = 0;
  if (disabled >> value && value != 0) return false;
  return true;
#else
  return false;
#endif
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

// 300 streams (more than one submission's 256 entries) flush in the same iteration; every
// reader gets its stream's bytes whole and in order, whatever their size.
TEST_P(BatchedFlush, EveryStreamsBytesArriveWholeAndInOrder) {
  const int before = io_uring_descriptors();
  EventLoop loop(options());
  test::arm_watchdog(loop, 60s);
  constexpr std::size_t count = 300;
  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::unique_ptr<Reader>> readers;
  std::size_t complete = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto [server, client] = tcp_pair();
    // 1 B to ~300 KiB: single-vector sends, sendmsg, and writes too large for one batch entry.
    const std::size_t size = i % 7 == 0 ? 1 : (i * 1031) % (300 * 1024) + 1;
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
  // The batch was used where it can be, and only there.
  const bool batched = GetParam() && kernel_offers_io_uring();
  EXPECT_EQ(io_uring_descriptors() - before, batched ? 1 : 0);
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
