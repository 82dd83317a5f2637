// "After close no callback follows": a raw client writes several frames in one send, so the
// server reads them in one go, and the application closes or terminates at the first one. After
// terminate() the rest of that read reaches no callback (message, fragment, ping); after close()
// it is delivered until the close callback; `close` fires once and is the last call.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RecordedEvent;
using test::RunningServer;

enum class Ending { terminate, close };
struct Case {
  Ending ending;
  bool fragments;  // receive through `fragment` instead of `message`
};

class CallbackAfterClose : public ::testing::TestWithParam<Case> {
 protected:
  void record(std::string call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(call));
  }
  std::vector<std::string> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  void end(WebSocket& ws) {
    if (GetParam().ending == Ending::terminate) {
      ws.terminate();
    } else {
      ws.close(4000, "enough");
    }
  }

  std::mutex mutex_;
  std::vector<std::string> calls_;
};

TEST_P(CallbackAfterClose, NothingFromTheSameReadReachesTheApplication) {
  Server server({.threads = 1});
  Behavior behavior;
  if (GetParam().fragments) {
    behavior.fragment = [this](WebSocket& ws, Fragment piece) {
      record("fragment " + std::string(piece.text()));
      end(ws);
    };
  } else {
    behavior.message = [this](WebSocket& ws, Message message) {
      record("message " + std::string(message.text()));
      end(ws);
    };
  }
  behavior.ping = [this](WebSocket&, std::span<const std::uint8_t>) { record("ping"); };
  behavior.close = [this](WebSocket&, const CloseInfo& info) {
    record("close " + std::to_string(info.code));
  };
  server.route("/", std::move(behavior));
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  proto::Connection& connection = client.connection();
  const auto piece = [](std::string_view text) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                         text.size());
  };
  connection.send_fragment(proto::MessageKind::text, piece("one-a"), false);
  connection.send_fragment(proto::MessageKind::text, piece("one-b"), true);
  connection.send_text("two");
  connection.ping();
  connection.send_text("three");
  ASSERT_TRUE(client.flush());  // one write

  std::optional<RecordedEvent> event = client.next_event();
  if (GetParam().ending == Ending::close) {
    ASSERT_TRUE(event);
    EXPECT_EQ(event->kind, proto::EventKind::close);  // no pong after our close frame
    EXPECT_EQ(event->close_code, 4000);
    ASSERT_TRUE(client.flush());  // our answer to the close
  } else {
    EXPECT_FALSE(event);  // dropped without a closing handshake
  }
  EXPECT_TRUE(client.wait_eof());
  // Released: no callback can come any more.
  for (int i = 0; i < 500 && server.connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server.connections(), 0u);
  std::vector<std::string> expected;
  if (GetParam().ending == Ending::terminate) {
    // `close` at once, inside the first callback: nothing of the read after it.
    expected = {GetParam().fragments ? "fragment one-a" : "message one-aone-b", "close 1006"};
  } else if (GetParam().fragments) {
    // After close() the peer may still be sending (RFC 6455 §1.4): its data arrives until its
    // close frame, then `close`, then nothing.
    expected = {"fragment one-a", "fragment one-b", "fragment two",
                "ping",           "fragment three", "close 4000"};
  } else {
    expected = {"message one-aone-b", "message two", "ping", "message three", "close 4000"};
  }
  EXPECT_EQ(calls(), expected);
}

INSTANTIATE_TEST_SUITE_P(
    Endings, CallbackAfterClose,
    ::testing::Values(Case{Ending::terminate, false}, Case{Ending::close, false},
                      Case{Ending::terminate, true}, Case{Ending::close, true}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return std::string(info.param.ending == Ending::terminate ? "Terminate" : "Close") +
             (info.param.fragments ? "Fragments" : "Messages");
    });

}  // namespace
}  // namespace wsx
