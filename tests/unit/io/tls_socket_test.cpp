// TlsSession attached to its socket (socket mode): OpenSSL reads and writes the descriptor
// itself. Driven by hand over a non-blocking socket pair, so that a full socket, a FIN without
// close_notify and a read bound can be set up exactly.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "test_certs.hpp"
#include "wsx/io/tls_session.hpp"

namespace wsx::io {
namespace {

std::string pattern_text(std::size_t size, char salt) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>(i * 11 + i / 777 + salt);
  return text;
}

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

struct Pair {
  Pair()
      : server_context(TlsContext::server(server_options())),
        client_context(TlsContext::client(client_options())) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
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
