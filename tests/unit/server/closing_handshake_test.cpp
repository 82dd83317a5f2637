// The closing handshake of a real Server, byte by byte on the wire: who closes TCP first, and
// that a peer failed while it is still sending reads the whole close frame (no RST eats it).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "test_certs.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;

// A masked frame header with a zero mask key (the payload goes as written).
std::vector<std::uint8_t> masked_header(std::uint8_t opcode, std::uint64_t length) {
  std::vector<std::uint8_t> header{static_cast<std::uint8_t>(0x80 | opcode)};
  if (length < 126) {
    header.push_back(static_cast<std::uint8_t>(0x80 | length));
  } else if (length <= 0xFFFF) {
    header.push_back(0x80 | 126);
    header.push_back(static_cast<std::uint8_t>(length >> 8));
    header.push_back(static_cast<std::uint8_t>(length));
  } else {
    header.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      header.push_back(static_cast<std::uint8_t>(length >> shift));
  }
  header.insert(header.end(), 4, 0);
  return header;
}

io::TlsContext trusting_client_context() {
  io::TlsClientOptions options;
  options.ca_file = test::test_pki().ca_certificate;
  options.use_system_ca = false;
  return io::TlsContext::client(options);
}

ServerOptions tls_server_options() {
  const test::TestPki& pki = test::test_pki();
  return {.threads = 1,
          .tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                  .private_key_file = pki.server_key}};
}

constexpr std::size_t welcome_size = 64 * 1024;
constexpr std::size_t message_limit = 64 * 1024;
constexpr std::size_t upload_size = 128 * 1024;

// A route that greets every client with a message larger than a small receive window, so
// that its close frame waits behind it in the server's socket, and refuses messages over 64 KiB.
Behavior greeting_route() {
  Behavior behavior;
  behavior.max_message_size = message_limit;
  behavior.open = [](WebSocket& ws) {
    ws.send(std::vector<std::uint8_t>(welcome_size, 0x77), MessageKind::binary);
  };
  return behavior;
}

// One client: a small receive window, the greeting not read yet, then a 512 KiB message
// (over the limit) written while reading slowly, as a browser uploading does. Returns a failure
// message, empty when the client read the greeting and the whole 1009 close frame.
std::string upload_over_the_limit(std::uint16_t port, const io::TlsContext* tls) {
  RawWsClient client(port, false, 4096);
  if (tls != nullptr) client.use_tls(*tls, "localhost");
  if (!client.handshake({.host = "localhost", .secure = tls != nullptr})) return "no handshake";
  std::vector<std::uint8_t> upload = masked_header(0x2, upload_size);
  upload.resize(upload.size() + upload_size, 0x55);
  RawWsClient::DuplexResult result = client.write_while_reading(upload, 20s, 4096);
  const std::string seen = " (wrote " + std::to_string(result.written) + ", read " +
                           std::to_string(result.received.size()) + ")";
  if (!result.ended) return "the server did not close the connection" + seen;
  client.process(std::move(result.received));
  std::optional<test::RecordedEvent> greeting = client.next_event(0ms);
  if (!greeting || greeting->kind != proto::EventKind::message ||
      greeting->data.size() != welcome_size) {
    return "no whole greeting" + seen;
  }
  std::optional<test::RecordedEvent> close = client.next_event(0ms);
  if (!close || close->kind != proto::EventKind::close) return "no close frame" + seen;
  if (close->close_code != 1009) return "close code " + std::to_string(close->close_code);
  return {};
}

void expect_every_upload_reads_1009(std::uint16_t port, const io::TlsContext* tls) {
  int failures = 0;
  std::string first_failure;
  for (int i = 0; i < 200; ++i) {
    const std::string failure = upload_over_the_limit(port, tls);
    if (failure.empty()) continue;
    if (failures++ == 0) first_failure = "attempt " + std::to_string(i) + ": " + failure;
  }
  EXPECT_EQ(failures, 0) << first_failure;
}

TEST(ClosingHandshake, PeerStillSendingReadsTheWhole1009CloseFrame) {
  Server server({.threads = 1});
  server.route("/", greeting_route());
  RunningServer running(server);
  expect_every_upload_reads_1009(running.port(), nullptr);
}

TEST(ClosingHandshake, PeerStillSendingReadsTheWhole1009CloseFrameOverTls) {
  Server server(tls_server_options());
  server.route("/", greeting_route());
  RunningServer running(server);
  const io::TlsContext context = trusting_client_context();
  expect_every_upload_reads_1009(running.port(), &context);
}

}  // namespace
}  // namespace wsx
