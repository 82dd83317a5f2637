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
