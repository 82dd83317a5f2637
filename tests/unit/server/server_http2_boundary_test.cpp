// The exception boundary around application code over HTTP/2 (RFC 8441), as
// exception_boundary_test.cpp checks it over HTTP/1.1: a callback that throws on a WebSocket
// stream costs that stream only (close 1011, then END_STREAM), a throwing upgrade decision or
// http handler answers 500 on its stream, and a long-polling session over h2 fails with 1011.
// Every test runs a one-thread server and keeps a healthy WebSocket on the same HTTP/2
// connection: it must still echo afterwards, and the stream that failed must give back what it
// took (Server::connections() counts each WebSocket stream).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "h2_socket_client.hpp"
#include "h2_tls_setup.hpp"
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

// What the error hook and the close callbacks saw, from the server thread.
struct Log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> callbacks;  // ErrorReport::callback, in order
  std::vector<std::string> messages;
  std::vector<std::uint16_t> closes;

  ErrorHook hook() {
    return [this](const ErrorReport& report) {
      std::lock_guard lock(mutex);
      callbacks.emplace_back(report.callback);
      messages.emplace_back(report.message);
      changed.notify_all();
    };
  }
  void closed(std::uint16_t code) {
    std::lock_guard lock(mutex);
    closes.push_back(code);
    changed.notify_all();
  }
  bool wait(const std::function<bool()>& done) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, done);
  }
};

io::TlsContext h2_client_context() {
  return test::h2_client_tls({"h2"});
}

class Http2Boundary : public ::testing::Test {
 protected:
  // A one-thread TLS server with h2: `boom` on /boom/*, an echo on /echo. The test's HTTP/2
  // connection opens a healthy echo WebSocket first.
  void start(Behavior boom, ServerOptions options = {}) {
    const ServerOptions tls = test::h2_tls_server_options();
    options.threads = tls.threads;
    options.tls = tls.tls;
    options.http2 = tls.http2;
    options.error_hook = log_.hook();
    server_ = std::make_unique<Server>(std::move(options));
    if (!boom.close) {
      boom.close = [this](WebSocket&, const CloseInfo& info) { log_.closed(info.code); };
    }
    server_->route("/boom/*", std::move(boom));
    server_->route("/echo", {.message = [](WebSocket& ws, Message message) {
                     ws.send(message.data, message.kind);
                   }});
    running_ = std::make_unique<RunningServer>(*server_);
    socket_ = std::make_unique<RawWsClient>(running_->port());
    socket_->use_tls(context_, "localhost");
    healthy_ = open_websocket("/echo");
    ASSERT_EQ(h2_.responses[healthy_].header(":status"), "200");
    expect_echo("before");
  }

  std::int32_t open_websocket(const std::string& path) {
    const std::int32_t id = h2_.request(testing::h2_websocket(path), std::nullopt, true);
    exchange_h2(*socket_, h2_, [&] { return h2_.responses[id].header(":status").has_value(); });
    return id;
  }

  // The healthy WebSocket of the same connection still echoes.
  void expect_echo(const std::string& text) {
    echo_.connection.send_text(text);
    echo_.send_queued(h2_, healthy_);
    const std::size_t before = echo_.messages.size();
    ASSERT_TRUE(exchange_h2(*socket_, h2_, [&] {
      echo_.take(h2_.responses[healthy_]);
      return echo_.messages.size() > before;
    }));
    EXPECT_EQ(echo_.messages.back(), text);
  }

  // `ws` on stream `id` receives the server's close frame with `code`, the server ends the
  // stream (END_STREAM, no reset), the client answers as a client does (its close, END_STREAM),
  // and the stream closes without error.
  void expect_failed_stream(StreamWebSocket& ws, std::int32_t id, std::uint16_t code = 1011) {
    ASSERT_TRUE(exchange_h2(*socket_, h2_, [&] {
      ws.take(h2_.responses[id]);
      return ws.close_code.has_value() && h2_.responses[id].ended;
    })) << "no close frame and END_STREAM on the failed stream";
    EXPECT_EQ(ws.close_code, code);
    ws.send_queued(h2_, id);  // the close echoed by the core
    h2_.send_more(id, "", true);
    ASSERT_TRUE(exchange_h2(*socket_, h2_, [&] { return h2_.responses[id].closed.has_value(); }));
    EXPECT_EQ(h2_.responses[id].closed, NGHTTP2_NO_ERROR);
  }

  // The hook saw `callback` throw once; with `closed_with`, the close callback saw that code.
  void expect_reported(const std::string& callback,
                       std::optional<std::uint16_t> closed_with = 1011) {
    ASSERT_TRUE(log_.wait([&] { return !log_.callbacks.empty(); }));
    if (closed_with) {
      ASSERT_TRUE(log_.wait([&] { return !log_.closes.empty(); }));
    }
    std::lock_guard lock(log_.mutex);
    EXPECT_EQ(log_.callbacks, std::vector<std::string>{callback});
    EXPECT_EQ(log_.messages, std::vector<std::string>{"boom in " + callback});
    if (closed_with) {
      EXPECT_EQ(log_.closes, std::vector<std::uint16_t>{*closed_with});
    }
  }

  // Nothing of the failed stream is left: the server counts the connection and the healthy
  // WebSocket only (each WebSocket stream counts like a connection).
  void expect_nothing_left() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (server_->connections() != 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(server_->connections(), 2u);
    EXPECT_FALSE(h2_.goaway_code.has_value());  // the connection goes on
  }

  Log log_;
  io::TlsContext context_ = h2_client_context();
  std::unique_ptr<Server> server_;
  std::unique_ptr<RunningServer> running_;
  std::unique_ptr<RawWsClient> socket_;
  H2TestClient h2_;
  std::int32_t healthy_ = 0;
  StreamWebSocket echo_;
};

TEST_F(Http2Boundary, OpenFailsItsStreamWith1011) {
  start({.open = [](WebSocket&) { throw std::runtime_error("boom in open"); }});
  const std::int32_t id = open_websocket("/boom/x");
  EXPECT_EQ(h2_.responses[id].header(":status"), "200");  // the open came after the 200
  StreamWebSocket ws;
  expect_failed_stream(ws, id);
  expect_reported("open");
  expect_echo("after");
  expect_nothing_left();
}

TEST_F(Http2Boundary, MessageFailsItsStreamWith1011) {
  start({.message = [](WebSocket&, Message) { throw std::runtime_error("boom in message"); }});
  const std::int32_t id = open_websocket("/boom/x");
  ASSERT_EQ(h2_.responses[id].header(":status"), "200");
  StreamWebSocket ws;
  ws.connection.send_text("hello");
  ws.send_queued(h2_, id);
  expect_failed_stream(ws, id);
  expect_reported("message");
  expect_echo("after");
  expect_nothing_left();
}

// The rest of the read is not delivered after the failure, as over HTTP/1.1.
TEST_F(Http2Boundary, NoCallbackFollowsTheFailure) {
  std::atomic<int> messages{0};
  start({.message = [&](WebSocket&, Message) {
    ++messages;
    throw std::runtime_error("boom in message");
  }});
  const std::int32_t id = open_websocket("/boom/x");
  StreamWebSocket ws;
  for (const char* text : {"one", "two", "three"}) ws.connection.send_text(text);
  ws.send_queued(h2_, id);  // one DATA frame
  expect_failed_stream(ws, id);
  expect_reported("message");
  EXPECT_EQ(messages, 1);
  expect_echo("after");
}

TEST_F(Http2Boundary, CloseCallbackThatThrowsIsReportedOnce) {
  std::atomic<int> close_calls{0};
  start({.close = [&](WebSocket&, const CloseInfo&) {
    ++close_calls;
    throw std::runtime_error("boom in close");
  }});
  const std::int32_t id = open_websocket("/boom/x");
  StreamWebSocket ws;
  ws.connection.close(1000, "bye");
  ws.send_queued(h2_, id);
  expect_failed_stream(ws, id, 1000);  // the closing handshake ends normally: no 1011 after it
  expect_reported("close", std::nullopt);
  EXPECT_EQ(close_calls, 1);
  expect_echo("after");
  expect_nothing_left();
}

TEST_F(Http2Boundary, UpgradeAnswers500OnItsStream) {
  start({.upgrade = [](const UpgradeRequest&) -> UpgradeDecision {
    throw std::runtime_error("boom in upgrade");
  }});
  const std::int32_t id = open_websocket("/boom/x");
  ASSERT_TRUE(exchange_h2(*socket_, h2_, [&] { return h2_.responses[id].ended; }));
  EXPECT_EQ(h2_.responses[id].header(":status"), "500");
  EXPECT_EQ(h2_.responses[id].data.find("boom"), std::string::npos);  // what() stays inside
  expect_reported("upgrade", std::nullopt);
  expect_echo("after");
  expect_nothing_left();
}

TEST_F(Http2Boundary, UpgradeAsyncAnswers500AndItsResponderAnswersNothing) {
  std::mutex kept_mutex;
  UpgradeResponder kept;
  start({.upgrade_async = [&](const UpgradeRequest&, UpgradeResponder responder) {
    std::lock_guard lock(kept_mutex);
    kept = std::move(responder);
    throw std::runtime_error("boom in upgrade_async");
  }});
  const std::int32_t id = open_websocket("/boom/x");
  ASSERT_TRUE(exchange_h2(*socket_, h2_, [&] { return h2_.responses[id].ended; }));
  EXPECT_EQ(h2_.responses[id].header(":status"), "500");
  expect_reported("upgrade_async", std::nullopt);
  {
    std::lock_guard lock(kept_mutex);
    EXPECT_FALSE(kept.accept());  // the stream no longer waits
  }
  expect_echo("after");
  expect_nothing_left();
}

TEST_F(Http2Boundary, HttpHandlerAnswers500OnItsStream) {
  ServerOptions options;
  std::atomic<int> calls{0};
  options.http = [&](const HttpRequest& request) -> proto::HttpResponse {
    if (++calls == 1) throw std::runtime_error("boom in http");
    proto::HttpResponse response;
    response.status = 200;
    response.body = "page " + std::string(request.path);
    return response;
  };
  start({}, std::move(options));
  const std::int32_t failed = h2_.request(testing::h2_get("/page"));
  const std::int32_t next = h2_.request(testing::h2_get("/next"));
  ASSERT_TRUE(exchange_h2(
      *socket_, h2_, [&] { return h2_.responses[failed].ended && h2_.responses[next].ended; }));
  EXPECT_EQ(h2_.responses[failed].header(":status"), "500");
  EXPECT_EQ(h2_.responses[next].header(":status"), "200");
  EXPECT_EQ(h2_.responses[next].data, "page /next");
  expect_reported("http", std::nullopt);
  expect_echo("after");
  expect_nothing_left();
}

// Long polling over h2 (a page whose WebSocket failed): a message callback that throws fails the
// session with 1011, which the held recv carries, and the connection goes on.
TEST_F(Http2Boundary, LongPollingMessageFailsTheSessionWith1011) {
  Behavior boom;
  boom.long_polling = LongPolling{};
  boom.message = [](WebSocket&, Message) { throw std::runtime_error("boom in message"); };
  start(std::move(boom));
  auto poll_fields = [](std::string method, std::string path) {
    return testing::H2Fields{{":method", std::move(method)},
                             {":scheme", "https"},
                             {":path", std::move(path)},
                             {":authority", "localhost"}};
  };
  testing::H2Fields open = poll_fields("POST", "/boom/x?wsx-poll=open");
  open.emplace_back("content-type", "application/x-wsx-poll");
  const std::int32_t opened = h2_.request(open);
  ASSERT_TRUE(exchange_h2(*socket_, h2_, [&] { return h2_.responses[opened].ended; }));
  ASSERT_EQ(h2_.responses[opened].header(":status"), "200") << h2_.responses[opened].data;
  const std::string key = R"("sid":")";
  const std::size_t at = h2_.responses[opened].data.find(key);
  ASSERT_NE(at, std::string::npos);
  const std::string sid = h2_.responses[opened].data.substr(at + key.size(), 24);

  proto::ConnectionOptions client_options;
  client_options.role = proto::Role::client;
  proto::Connection client(client_options);
  client.send_text("hello");
  const std::span<const std::uint8_t> frames = client.pending_output();
  const std::string body(reinterpret_cast<const char*>(frames.data()), frames.size());
  client.consume_output(frames.size());
  testing::H2Fields send = poll_fields("POST", "/boom/x?wsx-poll=send&offset=0");
  send.emplace_back("content-type", "application/x-wsx-poll");
  send.emplace_back("content-length", std::to_string(body.size()));
  send.emplace_back("wsx-session", sid);
  const std::int32_t sent = h2_.request(send, body);
  testing::H2Fields recv = poll_fields("GET", "/boom/x?wsx-poll=recv&ack=0");
  recv.emplace_back("wsx-session", sid);
  const std::int32_t received = h2_.request(recv);
  ASSERT_TRUE(exchange_h2(
      *socket_, h2_, [&] { return h2_.responses[sent].ended && h2_.responses[received].ended; }));
  EXPECT_EQ(h2_.responses[sent].header(":status"), "204");
  ASSERT_EQ(h2_.responses[received].header(":status"), "200");
  struct Events final : proto::EventHandler {
    void on_event(const proto::Event& event) override {
      if (event.kind == proto::EventKind::close) close_code = event.close_code;
    }
    std::optional<std::uint16_t> close_code;
  } events;
  std::string bytes = h2_.responses[received].data;
  client.receive({reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()}, events);
  EXPECT_EQ(events.close_code, 1011);
  expect_reported("message");
  expect_echo("after");
}

}  // namespace
}  // namespace wsx
