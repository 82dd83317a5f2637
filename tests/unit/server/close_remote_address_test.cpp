// WebSocket::remote_address() inside the close callback still names the peer, however the
// connection ended — the closing handshake, the peer leaving without one, a reset — on an
// HTTP/2 stream (RFC 8441), where a stream the peer reset or a connection that died reported an
// empty address, and over HTTP/1.1, where a TCP reset did (getpeername fails once reset; the
// address is asked with SO_PEERNAME then, before the descriptor is closed, rather than kept
// from accept at a cost to every idle connection).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "h2_socket_client.hpp"
#include "running_server.hpp"
#include "test_certs.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;
using wsx::testing::exchange_h2;
using wsx::testing::H2TestClient;
using wsx::testing::StreamWebSocket;

// The address each close callback saw, beside the one its open callback saw.
struct Addresses {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> at_open;
  std::vector<std::string> at_close;
  bool wait_closes(std::size_t count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return at_close.size() >= count; });
  }
};

Behavior recording(Addresses& seen) {
  Behavior behavior;
  behavior.close_timeout = 500ms;
  behavior.open = [&seen](WebSocket& ws) {
    std::lock_guard lock(seen.mutex);
    seen.at_open.push_back(ws.remote_address());
  };
  behavior.close = [&seen](WebSocket& ws, const CloseInfo&) {
    std::lock_guard lock(seen.mutex);
    seen.at_close.push_back(ws.remote_address());
    seen.changed.notify_all();
  };
  return behavior;
}

std::string local_address(int fd) {
  sockaddr_in address{};
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

// Every close callback saw the same address as its open callback: the client's.
void expect_addresses(Addresses& seen, std::size_t count, const std::string& client) {
  ASSERT_TRUE(seen.wait_closes(count));
  std::lock_guard lock(seen.mutex);
  ASSERT_EQ(seen.at_open.size(), count);
  for (std::size_t i = 0; i < count; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(seen.at_open[i], client);
    EXPECT_EQ(seen.at_close[i], client);
  }
}

TEST(CloseRemoteAddress, Http1ClosingHandshake) {
  Addresses seen;
  Server server({.threads = 1});
  server.route("/", recording(seen));
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.close(1000));
  expect_addresses(seen, 1, local_address(client.fd()));
}

TEST(CloseRemoteAddress, Http1PeerLeavesWithoutClosing) {
  Addresses seen;
  Server server({.threads = 1});
  server.route("/", recording(seen));
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  const std::string address = local_address(client.fd());
  ::shutdown(client.fd(), SHUT_WR);  // FIN, no close frame
  expect_addresses(seen, 1, address);
}

TEST(CloseRemoteAddress, Http1PeerResets) {
  Addresses seen;
  Server server({.threads = 1});
  server.route("/", recording(seen));
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  const std::string address = local_address(client.fd());
  const linger reset{1, 0};
  ::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  client.close_socket();  // RST, no close frame
  expect_addresses(seen, 1, address);
}

class Http2CloseRemoteAddress : public ::testing::Test {
 protected:
  void SetUp() override {
    const test::TestPki& pki = test::test_pki();
    ServerOptions options;
    options.threads = 1;
    options.tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                   .private_key_file = pki.server_key};
    options.http2 = true;
    server_ = std::make_unique<Server>(options);
    server_->route("/", recording(seen_));
    running_ = std::make_unique<RunningServer>(*server_);
    io::TlsClientOptions tls;
    tls.ca_file = pki.ca_certificate;
    tls.use_system_ca = false;
    tls.alpn = {"h2"};
    context_ = io::TlsContext::client(tls);
    socket_ = std::make_unique<RawWsClient>(running_->port());
    socket_->use_tls(context_, "localhost");
    address_ = local_address(socket_->fd());
  }
  std::int32_t open_websocket() {
    const std::int32_t id = h2_.request(testing::h2_websocket("/"), std::nullopt, true);
    exchange_h2(*socket_, h2_, [&] { return h2_.responses[id].header(":status").has_value(); });
    EXPECT_EQ(h2_.responses[id].header(":status"), "200");
    return id;
  }

  Addresses seen_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<RunningServer> running_;
  io::TlsContext context_;
  std::unique_ptr<RawWsClient> socket_;
  H2TestClient h2_;
  std::string address_;
};

TEST_F(Http2CloseRemoteAddress, ClosingHandshake) {
  const std::int32_t id = open_websocket();
  StreamWebSocket ws;
  ws.connection.close(1000, "bye");
  ws.send_queued(h2_, id);
  ASSERT_TRUE(exchange_h2(*socket_, h2_, [&] {
    ws.take(h2_.responses[id]);
    return ws.close_code.has_value();
  }));
  h2_.send_more(id, "", true);
  exchange_h2(*socket_, h2_, [&] { return h2_.responses[id].closed.has_value(); });
  expect_addresses(seen_, 1, address_);
}

// RST_STREAM from the client: the stream is gone before the close callback runs.
TEST_F(Http2CloseRemoteAddress, StreamResetByThePeer) {
  const std::int32_t id = open_websocket();
  nghttp2_submit_rst_stream(h2_.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  exchange_h2(*socket_, h2_, [] { return true; });
  expect_addresses(seen_, 1, address_);
}

// The whole connection goes: every stream's close callback still names the peer.
TEST_F(Http2CloseRemoteAddress, ConnectionDropped) {
  open_websocket();
  open_websocket();
  const linger reset{1, 0};
  ::setsockopt(socket_->fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  socket_->close_socket();
  expect_addresses(seen_, 2, address_);
}

}  // namespace
}  // namespace wsx
