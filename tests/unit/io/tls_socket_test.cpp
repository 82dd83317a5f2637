// TlsSession attached to its socket (socket mode): OpenSSL reads and writes the descriptor
// itself. Driven by hand over a non-blocking socket pair, so that a full socket, a FIN without
// close_notify and a read bound can be set up exactly.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <linux/tcp.h>  // its tcp_info has tcpi_segs_out
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "pattern_text.hpp"
#include "tcp_pair.hpp"
#include "test_certs.hpp"
#include "wsx/io/tls_session.hpp"

namespace wsx::io {
namespace {

using test::pattern_text;

TlsServerOptions server_options() {
  TlsServerOptions options;
  options.certificate_chain_file = test::test_pki().server_chain;
  options.private_key_file = test::test_pki().server_key;
  return options;
}

TlsClientOptions client_options() {
  TlsClientOptions options;
  options.ca_file = test::test_pki().ca_certificate;
  options.use_system_ca = false;
  return options;
}

struct Received {
  std::string plaintext;
  bool closed = false;
  std::size_t largest_piece = 0;
};

// One side: its session attached to its end of the pair.
struct Side {
  Side(TlsSession tls_session, int descriptor) : session(std::move(tls_session)), fd(descriptor) {
    EXPECT_TRUE(session.attach_socket(fd));
  }
  // Reads what the socket has (at most `budget` bytes of ciphertext) and sends what waits.
  bool step(std::size_t budget = SIZE_MAX) {
    const std::uint64_t before = session.socket_bytes_read();
    const std::size_t waiting_before = session.unsent_bytes();
    session.allow_socket_reads(budget);
    char buffer[16384];
    for (;;) {
      const TlsReadResult got =
          session.read({reinterpret_cast<std::uint8_t*>(buffer), sizeof buffer});
      if (got.status == TlsReadStatus::ok && got.bytes > 0) {
        received.plaintext.append(buffer, got.bytes);
        received.largest_piece = std::max(received.largest_piece, got.bytes);
        continue;
      }
      if (got.status == TlsReadStatus::closed) received.closed = true;
      break;
    }
    session.flush_output();
    return session.socket_bytes_read() != before || session.unsent_bytes() != waiting_before;
  }
  TlsSession session;
  int fd;
  Received received;
};

std::uint32_t segments_sent(int fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  EXPECT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length), 0);
  return info.tcpi_segs_out;
}

// Bytes the kernel holds for the socket and has not sent yet (a corked tail, for one).
int unsent_in_kernel(int fd) {
  int unsent = -1;
  EXPECT_EQ(::ioctl(fd, SIOCOUTQNSD, &unsent), 0);
  return unsent;
}

struct Pair {
  enum class Over { unix_socket, tcp };
  explicit Pair(Over over = Over::unix_socket)
      : server_context(TlsContext::server(server_options())),
        client_context(TlsContext::client(client_options())) {
    std::array<int, 2> fds;
    if (over == Over::tcp) {
      fds = test::tcp_pair();
    } else {
      EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()),
                0);
    }
    server.emplace(TlsSession(server_context), fds[0]);
    client.emplace(TlsSession(client_context, "localhost"), fds[1]);
  }
  ~Pair() {
    if (server) ::close(server->fd);
    if (client) ::close(client->fd);
  }
  // Both sides step until neither moves.
  void pump() {
    for (int round = 0; round < 10000; ++round) {
      const bool moved_client = client->step();
      const bool moved_server = server->step();
      if (!moved_client && !moved_server) return;
    }
    ADD_FAILURE() << "TLS sessions kept talking";
  }
  TlsContext server_context, client_context;
  std::optional<Side> server, client;
};

TEST(TlsSocket, HandshakeAndDataGoThroughTheSocketsThemselves) {
  Pair pair;
  EXPECT_TRUE(pair.client->session.output_waiting());  // the ClientHello, made before attaching
  pair.pump();
  ASSERT_EQ(pair.client->session.state(), TlsState::open) << pair.client->session.error();
  ASSERT_EQ(pair.server->session.state(), TlsState::open) << pair.server->session.error();
  EXPECT_TRUE(pair.client->session.socket_attached());
  EXPECT_EQ(pair.client->session.alpn(), "http/1.1");
  // Our order of preference, not OpenSSL's (AES-256 first).
  EXPECT_EQ(pair.server->session.cipher(), "TLS_AES_128_GCM_SHA256");
  EXPECT_TRUE(pair.server->session.kernel_tls_requested());
  // Not a TCP socket: the kernel cannot take TLS over, and user space does it.
  EXPECT_FALSE(pair.server->session.kernel_tls_send());
  EXPECT_FALSE(pair.server->session.kernel_tls_receive());

  const std::string request = "GET / HTTP/1.1\r\n\r\n", answer = pattern_text(1 << 20, 'a');
  EXPECT_TRUE(pair.client->session.write(request));
  EXPECT_TRUE(pair.server->session.write(answer));
  pair.pump();
  EXPECT_EQ(pair.server->received.plaintext, request);
  EXPECT_TRUE(pair.client->received.plaintext == answer);
  EXPECT_GT(pair.client->session.socket_bytes_read(), answer.size());  // and the TLS overhead
}

TEST(TlsSocket, AFullSocketKeepsTheRestAndSendsItWhenThereIsRoom) {
  Pair pair;
  pair.pump();
  ASSERT_EQ(pair.server->session.state(), TlsState::open);
  // Far more than the socket pair buffers: the session takes it all and holds what the socket
  // refused.
  const std::string big = pattern_text(8 << 20, 'f');
  EXPECT_TRUE(pair.server->session.write(big));
  EXPECT_TRUE(pair.server->session.output_waiting());
  EXPECT_GT(pair.server->session.unsent_bytes(), 0u);
  EXPECT_LT(pair.server->session.unsent_bytes(), big.size());
  EXPECT_FALSE(pair.server->session.flush_output());  // still no room
  // Written meanwhile: after the rest, in order.
  EXPECT_TRUE(pair.server->session.write(std::string_view("tail")));
  pair.pump();
  EXPECT_FALSE(pair.server->session.output_waiting());
  EXPECT_EQ(pair.server->session.unsent_bytes(), 0u);
  EXPECT_TRUE(pair.client->received.plaintext == big + "tail");
}

TEST(TlsSocket, ReadsNoMoreCiphertextThanAllowed) {
  Pair pair;
  pair.pump();
  ASSERT_EQ(pair.server->session.state(), TlsState::open);
  EXPECT_TRUE(pair.client->session.write(pattern_text(100000, 'r')));
  const std::uint64_t before = pair.server->session.socket_bytes_read();
  pair.server->step(1000);
  EXPECT_EQ(pair.server->session.socket_bytes_read() - before, 1000u);
  EXPECT_TRUE(pair.server->received.plaintext.empty());  // no whole record yet
  pair.server->step(0);
  EXPECT_EQ(pair.server->session.socket_bytes_read() - before, 1000u);
  pair.pump();
  EXPECT_EQ(pair.server->received.plaintext, pattern_text(100000, 'r'));
}

TEST(TlsSocket, CloseNotifyThenAHalfClosedAnswer) {
  Pair pair;
  pair.pump();
  pair.client->session.close();
  EXPECT_FALSE(pair.client->session.write(std::string_view("after close")));
  pair.pump();
  EXPECT_TRUE(pair.server->received.closed);
  EXPECT_EQ(pair.server->session.state(), TlsState::closed);
  EXPECT_TRUE(pair.server->session.write(std::string_view("bye")));
  pair.server->session.close();
  pair.pump();
  EXPECT_EQ(pair.client->received.plaintext, "bye");
  EXPECT_TRUE(pair.client->received.closed);
}

TEST(TlsSocket, APeersFinWithoutCloseNotifyEndsItsStreamAndWeMayStillWrite) {
  Pair pair;
  pair.pump();
  EXPECT_TRUE(pair.client->session.write(std::string_view("last words")));
  ASSERT_EQ(::shutdown(pair.client->fd, SHUT_WR), 0);  // FIN, no close_notify
  pair.server->step();  // the record; the read that emptied the socket stops there
  EXPECT_FALSE(pair.server->received.closed);
  pair.server->step();  // the socket is readable again: the FIN
  EXPECT_EQ(pair.server->received.plaintext, "last words");
  EXPECT_TRUE(pair.server->received.closed);
  EXPECT_EQ(pair.server->session.state(), TlsState::closed);
  EXPECT_TRUE(pair.server->session.error().empty()) << pair.server->session.error();
  EXPECT_TRUE(pair.server->session.write(std::string_view("answer")));
  pair.client->step();
  EXPECT_EQ(pair.client->received.plaintext, "answer");
}

TEST(TlsSocket, APeerGoneAwayIsAWriteErrorNotASignal) {
  Pair pair;
  pair.pump();
  ::close(pair.client->fd);
  pair.client.reset();
  // The first write may still be taken by the kernel; a later one fails (EPIPE), and the
  // process is not killed by SIGPIPE.
  bool failed = false;
  for (int i = 0; i < 10 && !failed; ++i) {
    failed = !pair.server->session.write(pattern_text(70000, 'g')) ||
             pair.server->session.state() == TlsState::failed;
  }
  EXPECT_TRUE(failed);
  EXPECT_NE(pair.server->session.error().find("write failed"), std::string::npos)
      << pair.server->session.error();
}

// Lets the client read until the server's kernel has sent every byte it was given; true when
// that took less than 150 ms. A tail left corked (sent with MSG_MORE and nothing after it) would
// wait for TCP's probe timer, at least 200 ms (the minimum retransmission timeout).
bool sent_promptly(Pair& pair) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(10);
  while (unsent_in_kernel(pair.server->fd) != 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd readable{.fd = pair.client->fd, .events = POLLIN, .revents = 0};
    ::poll(&readable, 1, 1);
    pair.client->step();
  }
  return std::chrono::steady_clock::now() - start < std::chrono::milliseconds(150);
}

// The client reads until it has `size` bytes of plaintext or `limit` passes without them.
void receive_on_client(Pair& pair, std::size_t size, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (pair.client->received.plaintext.size() < size &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd readable{.fd = pair.client->fd, .events = POLLIN, .revents = 0};
    ::poll(&readable, 1, 100);
    pair.client->step();
  }
}

// The records of one write leave with MSG_MORE but the last, so the kernel packs them into full
// segments: over loopback, one 64 KiB segment and a small one instead of a segment per record.
// (Whether the last record pushes is shown by the next test: here the ACK of the full segment
// would release a corked tail anyway.)
TEST(TlsSocket, TheRecordsOfOneWriteGoOutInFullSegmentsAndTheLastPushesThem) {
  Pair pair(Pair::Over::tcp);
  pair.pump();
  ASSERT_EQ(pair.server->session.state(), TlsState::open) << pair.server->session.error();
  const std::string message = pattern_text(64 * 1024, 'm');  // four full records
  constexpr int messages = 10;
  const std::uint32_t before = segments_sent(pair.server->fd);
  for (int i = 0; i < messages; ++i) {
    ASSERT_TRUE(pair.server->session.write(message));
    EXPECT_FALSE(pair.server->session.output_waiting());
    sent_promptly(pair);  // one message at a time in the kernel, as an echo sends them
  }
  const std::uint32_t segments = segments_sent(pair.server->fd) - before;
  EXPECT_LE(segments, 3u * messages) << "one segment per record (4) means no packing";
  receive_on_client(pair, messages * message.size(), std::chrono::seconds(10));
  ASSERT_EQ(pair.client->received.plaintext.size(), messages * message.size());
  for (int i = 0; i < messages; ++i) {
    EXPECT_TRUE(
        pair.client->received.plaintext.compare(i * message.size(), message.size(), message) == 0)
        << "message " << i;
  }
}

// A caller's write that says more follows is held back by the kernel only until the caller's
// next write, which pushes both: a frame header and its payload written as two pieces, all
// smaller than one segment, so that nothing in flight could release a corked tail.
TEST(TlsSocket, AWriteThatSaysMoreFollowsLeavesWithTheNextOne) {
  Pair pair(Pair::Over::tcp);
  pair.pump();
  ASSERT_EQ(pair.server->session.state(), TlsState::open) << pair.server->session.error();
  const std::string header = "\x82\x7e\x4e\x20", payload = pattern_text(20000, 'p');
  constexpr int messages = 10;
  const std::uint32_t before = segments_sent(pair.server->fd);
  int slow = 0;
  for (int i = 0; i < messages; ++i) {
    ASSERT_TRUE(pair.server->session.write(header, true));
    ASSERT_TRUE(pair.server->session.write(payload));
    if (!sent_promptly(pair)) ++slow;
  }
  EXPECT_LE(slow, 2) << "the write after one that said more did not push both";
  EXPECT_LE(segments_sent(pair.server->fd) - before, 2u * messages);  // not one per record (3)
  receive_on_client(pair, messages * (header.size() + payload.size()), std::chrono::seconds(10));
  std::string expected;
  for (int i = 0; i < messages; ++i) expected += header + payload;
  EXPECT_TRUE(pair.client->received.plaintext == expected)
      << pair.client->received.plaintext.size() << " of " << expected.size() << " bytes arrived";
}

TEST(TlsSocket, AttachedToOneSocketForGoodAndFedNothing) {
  const TlsContext client_context = TlsContext::client(client_options());
  TlsSession client(client_context, "localhost");
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  EXPECT_FALSE(client.socket_attached());
  EXPECT_FALSE(client.kernel_tls_requested());  // memory BIOs: nothing to ask for
  EXPECT_TRUE(client.attach_socket(fds[1]));
  EXPECT_TRUE(client.attach_socket(fds[1]));   // again, same socket (a released stream's)
  EXPECT_FALSE(client.attach_socket(fds[0]));  // another one: no
  EXPECT_TRUE(client.kernel_tls_requested());
  client.feed({});  // nothing: nothing happens
  EXPECT_NE(client.state(), TlsState::failed);
  const std::uint8_t stray[] = {22, 3, 3};
  client.feed(stray);  // the socket is the only source: a caller feeding bytes is a bug
  EXPECT_EQ(client.state(), TlsState::failed);
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace wsx::io
