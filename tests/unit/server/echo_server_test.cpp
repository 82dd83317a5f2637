// Runs the built examples/echo_server binary and talks to it over the network, the way
// conformance tools and the benchmark harness do.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "example_process.hpp"
#include "raw_ws_client.hpp"

namespace {

using namespace std::chrono_literals;

class EchoServerProcess : public wsx::test::ExampleProcess {
 public:
  explicit EchoServerProcess(std::vector<std::string> args)
      : ExampleProcess(WSX_ECHO_SERVER_PATH, std::move(args)) {}
};

TEST(EchoServerBinary, EchoesWithOpcodeAndStopsGracefullyOnSigterm) {
  EchoServerProcess server({"--port", "0", "--threads", "2", "--max-message", "100000"});
  ASSERT_NE(server.port(), 0);
  auto client_owner = std::make_unique<wsx::test::RawWsClient>(server.port());
  wsx::test::RawWsClient& client = *client_owner;
  ASSERT_TRUE(client.handshake({}, "/whatever/path"));
  ASSERT_TRUE(client.send("hello"));
  std::optional<wsx::test::RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->message_kind, wsx::proto::MessageKind::text);
  EXPECT_EQ(echo->text(), "hello");
  const std::vector<std::uint8_t> binary(70000, 0xAB);
  ASSERT_TRUE(client.send(binary, wsx::proto::MessageKind::binary));
  echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->message_kind, wsx::proto::MessageKind::binary);
  EXPECT_EQ(echo->data, binary);
  // --max-message: one byte more is refused with 1009.
  ASSERT_TRUE(client.send(std::vector<std::uint8_t>(100001, 1), wsx::proto::MessageKind::binary));
  echo = client.next_event();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->kind, wsx::proto::EventKind::close);
  EXPECT_EQ(echo->close_code, 1009);
  EXPECT_TRUE(client.wait_eof());
  client_owner.reset();

  wsx::test::RawWsClient other(server.port());
  ASSERT_TRUE(other.handshake());
  std::thread stopper([&] { EXPECT_EQ(server.terminate(), 0); });
  std::optional<wsx::test::RecordedEvent> close = other.next_event();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->close_code, 1001);
  other.flush();
  stopper.join();
}

// Queues a whole message as `frames` fragments of `piece` and sends it in one write.
bool send_in_fragments(wsx::test::RawWsClient& client, std::size_t frames,
                       const std::vector<std::uint8_t>& piece, wsx::proto::MessageKind kind) {
  for (std::size_t i = 0; i < frames; ++i) {
    if (client.connection().send_fragment(kind, piece, i + 1 == frames) !=
        wsx::proto::SendResult::ok) {
      return false;
    }
  }
  return client.flush();
}

// Issue 8, as reported: `echo_server --max-message 33554432` refused 4 MiB sent in 64- or
// 256-byte fragments with 1009, because of a fixed limit of 4096 frames per message. Such a
// message now passes; a message of endless empty fragments is still cut off, with 1008.
TEST(EchoServerBinary, SmallFragmentsPassAndAnEmptyFragmentFloodGets1008) {
  EchoServerProcess server({"--port", "0", "--max-message", "33554432"});
  ASSERT_NE(server.port(), 0);
  {
    wsx::test::RawWsClient client(server.port());
    ASSERT_TRUE(client.handshake());
    for (const std::size_t size : {64u, 256u}) {
      const auto kind =
          size == 64 ? wsx::proto::MessageKind::binary : wsx::proto::MessageKind::text;
      const std::vector<std::uint8_t> piece(size, 'a' + size % 26);
      ASSERT_TRUE(send_in_fragments(client, (4u << 20) / size, piece, kind));
      std::optional<wsx::test::RecordedEvent> echo = client.next_message(60s);
      ASSERT_TRUE(echo) << size;
      ASSERT_EQ(echo->kind, wsx::proto::EventKind::message) << echo->close_code;
      EXPECT_EQ(echo->message_kind, kind);
      EXPECT_EQ(echo->data, std::vector<std::uint8_t>(4u << 20, piece[0]));
    }
  }
  wsx::test::RawWsClient flood(server.port());
  ASSERT_TRUE(flood.handshake());
  ASSERT_TRUE(send_in_fragments(flood, 6000, {}, wsx::proto::MessageKind::binary));
  std::optional<wsx::test::RecordedEvent> close = flood.next_event(30s);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind, wsx::proto::EventKind::close);
  EXPECT_EQ(close->close_code, 1008);
  EXPECT_TRUE(flood.wait_eof(10s));
}

TEST(EchoServerBinary, CompressFlagNegotiatesDeflate) {
  EchoServerProcess server({"--port", "0", "--compress"});
  ASSERT_NE(server.port(), 0);
  auto client_owner = std::make_unique<wsx::test::RawWsClient>(server.port());
  wsx::test::RawWsClient& client = *client_owner;
  ASSERT_TRUE(client.handshake({.deflate = wsx::proto::DeflateClientOptions{}}));
  EXPECT_TRUE(client.handshake_result().deflate);
  const std::string text(5000, 'z');
  ASSERT_TRUE(client.send(text));
  std::optional<wsx::test::RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->text(), text);
  client_owner.reset();  // no connection left: the server exits at once
  EXPECT_EQ(server.terminate(), 0);
}

TEST(EchoServerBinary, RejectsUnknownFlags) {
  EchoServerProcess server({"--bogus"});
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.terminate(), 2);
}

}  // namespace
