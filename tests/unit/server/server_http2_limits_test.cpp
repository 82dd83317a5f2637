// The server's connection limits apply to each WebSocket stream of an HTTP/2 connection as to an
// HTTP/1.1 connection (issue 14 §3): a stream counts against its client's AddressLimits (a
// connection and a handshake token) and against max_connections, and one over a limit is
// answered on its stream (503 / 429 with Retry-After) while the connection and its other
// streams go on; the memory budget stops and closes (1013) a heavy stream while its neighbour
// on the same connection is served. Over h2c (prior knowledge, plain TCP) for brevity: the
// TLS path reaches the same H2ServerConnection.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "h2_socket_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;
using testing::exchange_h2;
using testing::H2TestClient;
using testing::StreamWebSocket;

struct Logged {
  int status = 0;
  std::string reason;
  Transport transport = Transport::http1;
};

struct LimitedH2Server {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Logged> log;
  std::vector<std::uint16_t> paced_closes;  // close codes of the /paced route's WebSockets
  std::size_t paced_messages = 0;           // messages other than "fill" the /paced route got
  std::unique_ptr<Server> server;
  std::unique_ptr<RunningServer> running;

  // `adjust_paced` changes the /paced route's behavior (its timeouts).
  explicit LimitedH2Server(ServerOptions options,
                           const std::function<void(Behavior&)>& adjust_paced = nullptr) {
    options.threads = 1;
    options.http2_prior_knowledge = true;
    options.http = [](const HttpRequest&) {
      proto::HttpResponse response;
      response.status = 200;
      response.body = "page\n";
      return response;
    };
    options.access_log = [this](const AccessRecord& record) {
      const std::lock_guard lock(mutex);
      log.push_back({record.status, std::string(record.reason), record.transport});
    };
    server = std::make_unique<Server>(options);
    Behavior echo;
    echo.max_message_size = 64 * 1024 * 1024;
    echo.max_backpressure = 64 * 1024 * 1024;  // the per-connection limit is not what stops it
    echo.message = [](WebSocket& ws, Message message) { ws.send(message.data, message.kind); };
    server->route("/ws", echo);
    // "fill" is answered with 100 KiB, other messages not at all: a peer that does not read
    // leaves more than the 16 KiB backpressure limit waiting, and the session stops reading.
    Behavior paced = echo;
    paced.max_backpressure = 16 * 1024;
    paced.message = [this](WebSocket& ws, Message message) {
      if (message.kind == MessageKind::text && message.text() == "fill") {
        ws.send(std::string(100 * 1024, 'f'), MessageKind::binary);
        return;
      }
      const std::lock_guard lock(mutex);
      ++paced_messages;
    };
    paced.close = [this](WebSocket&, const CloseInfo& info) {
      const std::lock_guard lock(mutex);
      paced_closes.push_back(info.code);
      changed.notify_all();
    };
    Behavior paced_route = paced;
    if (adjust_paced) adjust_paced(paced_route);
    server->route("/paced", std::move(paced_route));
    // As /paced ("fill" leaves the session over its backpressure limit, so it stops reading
    // until the peer reads), and it checks the order of what it gets: "m<index>" messages
    // counted from 0, answered on "done" with how many came in order (or where that failed).
    Behavior ordered = paced;
    ordered.close = nullptr;
    ordered.open = [](WebSocket& ws) { ws.user_data() = std::size_t{0}; };
    ordered.message = [](WebSocket& ws, Message message) {
      const std::string_view text = message.text();
      std::size_t& next = *ws.data<std::size_t>();
      if (text == "fill") {
        ws.send(std::string(100 * 1024, 'f'), MessageKind::binary);
      } else if (text == "done") {
        ws.send("received " + std::to_string(next));
      } else if (text.starts_with("m" + std::to_string(next) + ";")) {
        ++next;
      } else {
        ws.send("out of order at " + std::to_string(next) + ": " + std::string(text.substr(0, 16)));
      }
    };
    server->route("/ordered", std::move(ordered));
    // As /paced, and "end" terminates the WebSocket at once: sent while the session waits for
    // its peer to read, it is held, and it is handled when the peer's reading lets the session
    // resume.
    Behavior terminating = echo;
    terminating.max_backpressure = 16 * 1024;
    terminating.close = [this](WebSocket&, const CloseInfo& info) {
      const std::lock_guard lock(mutex);
      paced_closes.push_back(info.code);
      changed.notify_all();
    };
    terminating.message = [](WebSocket& ws, Message message) {
      if (message.text() == "fill") ws.send(std::string(100 * 1024, 'f'), MessageKind::binary);
      if (message.text() == "end") ws.terminate();
    };
    server->route("/terminating", std::move(terminating));
    running = std::make_unique<RunningServer>(*server);
  }
  std::vector<Logged> snapshot() {
    const std::lock_guard lock(mutex);
    return log;
  }
  std::optional<std::uint16_t> wait_paced_close(std::chrono::seconds timeout = 20s) {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, timeout, [&] { return !paced_closes.empty(); })) {
      return std::nullopt;
    }
    return paced_closes.front();
  }
  bool wait_connections(std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (server->connections() != count) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
};

ServerOptions with_address_limits(AddressLimits limits) {
  ServerOptions options;
  options.address_limits = limits;
  return options;
}

std::string status_of(H2TestClient& h2, std::int32_t id) {
  return h2.responses[id].header(":status").value_or("none");
}

// Opens a WebSocket stream and waits for its answer's status.
std::int32_t open_stream(RawWsClient& socket, H2TestClient& h2, std::string path = "/ws") {
  const std::int32_t id =
      h2.request(testing::h2_websocket(std::move(path), "http"), std::nullopt, true);
  exchange_h2(socket, h2, [&] { return h2.responses[id].header(":status").has_value(); });
  return id;
}

// Asks for the page on a connection: answered (200) once the server let the connection in.
void expect_page_served(RawWsClient& socket, H2TestClient& h2) {
  const std::int32_t page = h2.request(testing::h2_get("/page", "http"));
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[page].ended; }));
  ASSERT_EQ(status_of(h2, page), "200");
}

// A WebSocket stream whose session has stopped reading, as a peer that does not read makes it:
// the client says "fill" (on /paced or /terminating) and gets of the 100 KiB answer only what
// the stream's window (64 KiB) lets through; the rest waits, over the route's 16 KiB
// backpressure limit. The client's windows are per stream: it reopens one only by reading it.
struct PausedStream {
  RawWsClient socket;
  H2TestClient h2{nullptr, H2TestClient::Windows::stream_windows};
  std::int32_t id = 0;
  StreamWebSocket ws;
  std::size_t read = 0;  // bytes of the stream's DATA the client has read

  explicit PausedStream(LimitedH2Server& limited) : socket(limited.running->port()) {}

  void open(const std::string& path) {  // under ASSERT_NO_FATAL_FAILURE
    id = open_stream(socket, h2, path);
    ASSERT_EQ(status_of(h2, id), "200");
    ws.connection.send_text("fill");
    ws.send_queued(h2, id);
    ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[id].data.size() >= 65535; }));
  }
  // What `ws` has queued (messages, a close frame) goes out with END_STREAM, all of it written
  // to the socket before the client does anything else.
  void send_queued_and_end_stream() {
    const std::span<const std::uint8_t> out = ws.connection.pending_output();
    h2.send_more(id, std::string_view(reinterpret_cast<const char*>(out.data()), out.size()), true);
    ws.connection.consume_output(out.size());
    for (std::string bytes = h2.take_output(); !bytes.empty(); bytes = h2.take_output()) {
      ASSERT_TRUE(socket.write_all(bytes));
    }
  }
  // The client reads the stream (reopening its window) as its DATA comes, until `done`.
  bool read_until(const std::function<bool(H2TestClient::Response&)>& done) {
    return exchange_h2(socket, h2, [&] {
      H2TestClient::Response& response = h2.responses[id];
      h2.consume_stream(id, response.data.size() - read);
      read = response.data.size();
      return done(response);
    });
  }
  // The client reads nothing more: waits until the stream is closed.
  bool wait_closed() {
    return exchange_h2(
        socket, h2, [&] { return h2.responses[id].closed.has_value(); }, 20s);
  }
};

TEST(ServerHttp2Limits, EachWebSocketStreamCountsAgainstItsClientsConnections) {
  // The connection is one, each WebSocket stream one more: the third stream is over.
  LimitedH2Server limited(with_address_limits(
      {.max_connections = 3, .handshakes_per_second = 0, .exempt_loopback = false}));
  RawWsClient socket(limited.running->port());
  H2TestClient h2;
  const std::int32_t first = open_stream(socket, h2);
  const std::int32_t second = open_stream(socket, h2);
  ASSERT_EQ(status_of(h2, first), "200");
  ASSERT_EQ(status_of(h2, second), "200");
  const std::int32_t over = open_stream(socket, h2);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[over].ended; }));
  EXPECT_EQ(status_of(h2, over), "503");
  EXPECT_EQ(h2.responses[over].header("retry-after"), "5");
  EXPECT_EQ(h2.responses[over].data, "too many connections from this address\n");
  EXPECT_EQ(limited.server->address_limit_stats().refused_connections, 1u);
  EXPECT_EQ(limited.server->connections(), 3u);
  // The refusal cost only its stream: a plain request on the same connection is answered.
  ASSERT_NO_FATAL_FAILURE(expect_page_served(socket, h2));
  EXPECT_FALSE(h2.goaway_code.has_value());
  // A WebSocket that ends (its stream reset) gives its place back.
  nghttp2_submit_rst_stream(h2.session(), NGHTTP2_FLAG_NONE, first, NGHTTP2_CANCEL);
  exchange_h2(socket, h2, [] { return true; });
  ASSERT_TRUE(limited.wait_connections(2));
  const std::int32_t again = open_stream(socket, h2);
  EXPECT_EQ(status_of(h2, again), "200");
  const std::vector<Logged> log = limited.snapshot();
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[2].status, 503);
  EXPECT_EQ(log[2].reason, "too many connections from this address");
  EXPECT_EQ(log[2].transport, Transport::http2);
}

TEST(ServerHttp2Limits, EachWebSocketStreamTakesAHandshakeToken) {
  // Two tokens, then one every 100 s: the connection takes one, the first stream the other.
  LimitedH2Server limited(with_address_limits({.max_connections = 0,
                                               .handshakes_per_second = 0.01,
                                               .handshake_burst = 2,
                                               .exempt_loopback = false}));
  RawWsClient socket(limited.running->port());
  H2TestClient h2;
  const std::int32_t first = open_stream(socket, h2);
  EXPECT_EQ(status_of(h2, first), "200");
  const std::int32_t refused = open_stream(socket, h2);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[refused].ended; }));
  EXPECT_EQ(status_of(h2, refused), "429");
  const int seconds = std::stoi(h2.responses[refused].header("retry-after").value_or("0"));
  EXPECT_GE(seconds, 90);  // about 100 s until the next token
  EXPECT_LE(seconds, 100);
  EXPECT_EQ(h2.responses[refused].data, "handshake rate of this address exceeded\n");
  EXPECT_EQ(limited.server->address_limit_stats().refused_rate, 1u);
  // Plain requests are no handshakes: still answered.
  expect_page_served(socket, h2);
}

TEST(ServerHttp2Limits, MaxConnectionsCountsWebSocketStreams) {
  ServerOptions options;
  options.max_connections = 2;  // the HTTP/2 connection and one WebSocket on it
  LimitedH2Server limited(options);
  RawWsClient socket(limited.running->port());
  H2TestClient h2;
  const std::int32_t first = open_stream(socket, h2);
  EXPECT_EQ(status_of(h2, first), "200");
  EXPECT_EQ(limited.server->connections(), 2u);
  const std::int32_t over = open_stream(socket, h2);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[over].ended; }));
  EXPECT_EQ(status_of(h2, over), "503");
  EXPECT_EQ(limited.server->connections(), 2u);
  const std::vector<Logged> log = limited.snapshot();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].status, 503);
  EXPECT_EQ(log[1].reason, "server connection limit reached");
  // The first WebSocket still echoes.
  StreamWebSocket ws;
  ws.connection.send_text("still here");
  ws.send_queued(h2, first);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    ws.take(h2.responses[first]);
    return !ws.messages.empty();
  }));
  EXPECT_EQ(ws.messages, std::vector<std::string>{"still here"});
}

TEST(ServerHttp2Limits, MemoryBudgetClosesAHeavyStreamWhileItsNeighbourIsServed) {
  ServerOptions options;
  options.max_buffered_bytes = 1024 * 1024;
  options.over_budget_timeout = 300ms;
  LimitedH2Server limited(options);
  RawWsClient socket(limited.running->port());
  H2TestClient h2;
  const std::int32_t light_id = open_stream(socket, h2);
  const std::int32_t heavy_id = open_stream(socket, h2);
  ASSERT_EQ(status_of(h2, light_id), "200");
  ASSERT_EQ(status_of(h2, heavy_id), "200");
  StreamWebSocket light, heavy;
  // One message that never ends, 4 MiB of it queued: without the budget the server would
  // assemble it all (its route allows 64 MiB) and never close.
  const std::vector<std::uint8_t> piece(64 * 1024, 'x');
  for (int i = 0; i < 64; ++i) heavy.connection.send_fragment(MessageKind::binary, piece, false);
  heavy.send_queued(h2, heavy_id);
  auto echoes = [&](const std::string& text) {
    const std::size_t before = light.messages.size();
    light.connection.send_text(text);
    light.send_queued(h2, light_id);
    return exchange_h2(socket, h2,
                       [&] {
                         light.take(h2.responses[light_id]);
                         heavy.take(h2.responses[heavy_id]);
                         return light.messages.size() > before;
                       }) &&
           light.messages.back() == text;
  };
  EXPECT_TRUE(echoes("while the heavy one sends"));
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    heavy.take(h2.responses[heavy_id]);
    return heavy.close_code.has_value();
  }));
  EXPECT_EQ(heavy.close_code, 1013);
  EXPECT_TRUE(echoes("after"));
  EXPECT_FALSE(h2.goaway_code.has_value());
}

// What a stream's peer sends while its WebSocket does not read (RFC 8441: a stream's DATA, up
// to the window we gave) is memory the server holds, as a message being assembled is: it counts
// in max_buffered_bytes. Here a peer that never reads asks for 100 KiB (64 KiB leave, as its
// window allows; 36 KiB wait and stop the session's reading) and goes on sending to the end of
// its 256 KiB stream window: about 240 KiB held. Counted, the server is over its 128 KiB
// ceiling and the session is closed as the budget says (1013, dropped when the close frame
// cannot leave); uncounted (before), the server believed it held 36 KiB and kept the rest for
// as long as the peer liked, each of its connections one more such window past the ceiling.
TEST(ServerHttp2Limits, DataHeldForAStreamThatDoesNotReadCountsInTheMemoryBudget) {
  ServerOptions options;
  options.max_buffered_bytes = 128 * 1024;
  options.over_budget_timeout = 200ms;
  LimitedH2Server limited(options);
  RawWsClient socket(limited.running->port());
  H2TestClient h2;
  const std::int32_t light_id = open_stream(socket, h2);
  const std::int32_t paced_id = open_stream(socket, h2, "/paced");
  ASSERT_EQ(status_of(h2, light_id), "200");
  ASSERT_EQ(status_of(h2, paced_id), "200");
  ASSERT_EQ(h2.remote_setting(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE), 256u * 1024u);
  // "fill", then 400 messages of 1 KiB, more than the stream's window: the client sends what
  // the window allows and never reads a byte of the server's (so no window of the server's
  // reopens either).
  StreamWebSocket paced;
  paced.connection.send_text("fill");
  const std::string kibibyte(1024, 'p');
  for (int i = 0; i < 400; ++i) paced.connection.send_text(kibibyte);
  paced.send_queued(h2, paced_id);
  for (std::string out = h2.take_output(); !out.empty(); out = h2.take_output()) {
    ASSERT_TRUE(socket.write_all(out));
  }
  // The server decides alone: nothing more comes from the client until it has.
  const std::optional<std::uint16_t> code = limited.wait_paced_close();
  ASSERT_TRUE(code) << "the held DATA was not counted: the session was never closed";
  // The close frame could not reach a peer that does not read: the transport was dropped.
  EXPECT_EQ(*code, 1006);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[paced_id].closed.has_value(); }));
  EXPECT_EQ(h2.responses[paced_id].closed, NGHTTP2_CANCEL);
  // Its neighbour on the same connection is served.
  StreamWebSocket light;
  light.connection.send_text("still served");
  light.send_queued(h2, light_id);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    light.take(h2.responses[light_id]);
    return !light.messages.empty();
  }));
  EXPECT_EQ(light.messages, std::vector<std::string>{"still served"});
  EXPECT_FALSE(h2.goaway_code.has_value());
}

// HTTP/2 flow control with streams that stop reading (RFC 9113 §5.2, §6.9). Five WebSockets
// whose sessions stop reading (over their backpressure limit: their peer does not read their
// answers) each hold what their peer can still send, up to the stream's 256 KiB window: 1.25
// MiB, more than the connection's 1 MiB window. Their neighbour on the same connection keeps
// echoing, and when their peer reads again they go on and get every message, in order. Before,
// held bytes kept the connection's window closed: once the paused streams held 1 MiB, no stream
// of the connection could send another byte (the neighbour's echo never came).
TEST(ServerHttp2Limits, PausedStreamsDoNotStarveTheirNeighbourOfTheConnectionWindow) {
  LimitedH2Server limited(ServerOptions{});
  RawWsClient socket(limited.running->port());
  H2TestClient h2(nullptr, H2TestClient::Windows::stream_windows);
  // The client's own connection window is wide: what holds the server's answers back is each
  // stream's window, which the client reopens only for the streams it reads.
  ASSERT_EQ(nghttp2_session_set_local_window_size(h2.session(), NGHTTP2_FLAG_NONE, 0, 16 << 20), 0);
  const std::int32_t active_id = open_stream(socket, h2);
  ASSERT_EQ(status_of(h2, active_id), "200");
  constexpr int paused_count = 5;
  constexpr int messages = 400;  // 1 KiB each: more than a stream window (256 KiB) each
  std::vector<std::int32_t> paused_ids;
  std::vector<std::unique_ptr<StreamWebSocket>> paused;
  for (int i = 0; i < paused_count; ++i) {
    paused_ids.push_back(open_stream(socket, h2, "/ordered"));
    ASSERT_EQ(status_of(h2, paused_ids.back()), "200");
    paused.push_back(std::make_unique<StreamWebSocket>());
    StreamWebSocket& ws = *paused.back();
    ws.connection.send_text("fill");
    for (int m = 0; m < messages; ++m) {
      std::string text = "m" + std::to_string(m) + ";";
      text.resize(1024, 'p');
      ws.connection.send_text(text);
    }
    ws.connection.send_text("done");
    ws.send_queued(h2, paused_ids.back());
  }
  auto dump = [&] {
    std::string windows;
    for (std::size_t i = 0; i < paused_ids.size(); ++i) {
      const std::int32_t id = paused_ids[i];
      windows += std::to_string(id) + ": " +
                 std::to_string(nghttp2_session_get_stream_remote_window_size(h2.session(), id)) +
                 " got " + std::to_string(h2.responses[id].data.size()) + " msgs " +
                 std::to_string(paused[i]->messages.size()) + " closed " +
                 std::to_string(h2.responses[id].closed.value_or(99)) + "; ";
    }
    return windows + "connection " +
           std::to_string(nghttp2_session_get_remote_window_size(h2.session()));
  };
  // The client sends until no paused stream may send more (its window, or the connection's,
  // is used up) and reads none of their answers.
  ASSERT_TRUE(exchange_h2(
      socket, h2,
      [&] {
        return std::all_of(paused_ids.begin(), paused_ids.end(),
                           [&](std::int32_t id) { return h2.send_window(id) <= 0; });
      },
      30s))
      << dump();
  // The neighbour echoes.
  StreamWebSocket active;
  std::size_t active_read = 0;
  auto read_active = [&] {
    H2TestClient::Response& response = h2.responses[active_id];
    h2.consume_stream(active_id, response.data.size() - active_read);
    active_read = response.data.size();
    active.take(response);
  };
  active.connection.send_text("while they wait");
  active.send_queued(h2, active_id);
  EXPECT_TRUE(exchange_h2(
      socket, h2,
      [&] {
        read_active();
        return !active.messages.empty();
      },
      20s))
      << "the neighbour starved: the paused streams hold the connection's window";
  EXPECT_EQ(active.messages, std::vector<std::string>{"while they wait"});
  // The peer reads the paused streams again: they resume, and nothing was lost or reordered.
  std::vector<std::size_t> paused_read(paused_count, 0);
  ASSERT_TRUE(exchange_h2(
      socket, h2,
      [&] {
        bool all = true;
        for (int i = 0; i < paused_count; ++i) {
          H2TestClient::Response& response = h2.responses[paused_ids[i]];
          h2.consume_stream(paused_ids[i], response.data.size() - paused_read[i]);
          paused_read[i] = response.data.size();
          paused[i]->take(response);
          all = all && paused[i]->messages.size() >= 2;  // the 100 KiB, then the count
        }
        read_active();
        return all;
      },
      30s))
      << dump();
  for (int i = 0; i < paused_count; ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(paused[i]->messages.size(), 2u);
    EXPECT_EQ(paused[i]->messages[0], std::string(100 * 1024, 'f'));
    EXPECT_EQ(paused[i]->messages[1], "received " + std::to_string(messages));
  }
  EXPECT_FALSE(h2.goaway_code.has_value());
}

// A connection refused when it is accepted (over max_connections, or its address over its
// limits) is answered in the protocol it speaks. An HTTP/2 client (here h2c, prior knowledge;
// TLS with ALPN h2 takes the same path) used to get an HTTP/1.1 status line, which its HTTP/2
// parser can only take for a broken connection: it never learnt the 503/429 or its
// Retry-After. Now the server speaks HTTP/2 (RFC 9113 §3.4: its SETTINGS first), answers the
// request on its stream with the refusal's status and headers, and says GOAWAY (NO_ERROR)
// naming that stream as the last it processed (§6.8): the client knows nothing else was done.
void expect_refused_in_http2(LimitedH2Server& limited, int status) {
  RawWsClient socket(limited.running->port());
  H2TestClient h2;
  const std::int32_t id = h2.request(testing::h2_websocket("/ws", "http"), std::nullopt, true);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    return h2.responses[id].ended && h2.goaway_code.has_value();
  })) << "no HTTP/2 answer (an HTTP/1.1 one?)";
  EXPECT_EQ(status_of(h2, id), std::to_string(status));
  EXPECT_EQ(h2.goaway_code, NGHTTP2_NO_ERROR);
  EXPECT_EQ(h2.goaway_last_stream, id);
  // Then the server closes the connection.
  exchange_h2(socket, h2, [&] { return socket.eof(); });
  EXPECT_TRUE(socket.eof());
}

// Reading that resumes as the peer reads: the output nghttp2 pulls (its data-read callback)
// brings the session under half its backpressure limit, and the DATA held while it waited
// reaches the application. Done inside that callback, the application's reaction ran while
// nghttp2 was packing a DATA frame of this very stream: a terminate() there released the
// session, and its carrier, under the callback still running on it (heap-use-after-free under
// ASan). The held DATA now reaches the session from the loop, after nghttp2 returned: the
// stream is reset, the connection and its other streams go on.
TEST(ServerHttp2Limits, HeldDataThatEndsTheWebSocketIsHandledOutsideNghttp2sCallbacks) {
  LimitedH2Server limited(ServerOptions{});
  PausedStream stream(limited);
  ASSERT_NO_FATAL_FAILURE(stream.open("/terminating"));
  RawWsClient& socket = stream.socket;
  H2TestClient& h2 = stream.h2;
  StreamWebSocket& ws = stream.ws;
  const std::int32_t id = stream.id;
  ws.connection.send_text("end");
  ws.send_queued(h2, id);  // before the client's first WINDOW_UPDATE: held by the server
  // The client reads: the rest flows in 16 KiB frames, and the pause ends while one is packed.
  ASSERT_TRUE(stream.read_until([](H2TestClient::Response& r) { return r.closed.has_value(); }));
  EXPECT_EQ(h2.responses[id].closed, NGHTTP2_CANCEL);
  const std::optional<std::uint16_t> code = limited.wait_paced_close();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1006);
  // The connection serves a new stream.
  const std::int32_t next = open_stream(socket, h2);
  ASSERT_EQ(status_of(h2, next), "200");
  StreamWebSocket echo;
  echo.connection.send_text("after");
  echo.send_queued(h2, next);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    echo.take(h2.responses[next]);
    return !echo.messages.empty();
  }));
  EXPECT_EQ(echo.messages, std::vector<std::string>{"after"});
  EXPECT_FALSE(h2.goaway_code.has_value());
}

// The peer's END_STREAM that comes while its DATA is held (the session paused: its peer did
// not read its answers) is the end of what the session has not read yet: it waits for them.
// Here the peer sends 20 messages and a close frame (4001), then ends its stream, all while the
// session waits; then it reads. The application gets every message and the peer's close code.
// Before, the END_STREAM ended the session at once (1006), the held messages and the close
// frame dropped; so too when the END_STREAM came in the same wake-up as the read that resumed
// the session (the held DATA's delivery was posted, and ran after it).
TEST(ServerHttp2Limits, AnEndOfStreamBehindHeldDataEndsTheWebSocketAfterIt) {
  LimitedH2Server limited(ServerOptions{});
  PausedStream stream(limited);
  ASSERT_NO_FATAL_FAILURE(stream.open("/paced"));
  StreamWebSocket& ws = stream.ws;
  constexpr std::size_t messages = 20;
  for (std::size_t i = 0; i < messages; ++i) ws.connection.send_text("m" + std::to_string(i));
  ws.connection.close(4001, "done");
  ASSERT_NO_FATAL_FAILURE(stream.send_queued_and_end_stream());
  // The client reads: its WINDOW_UPDATEs come behind the END_STREAM on the connection, so
  // the session is still paused when the END_STREAM arrives. It resumes and reads what it
  // held, then the end.
  ASSERT_TRUE(stream.read_until([&](H2TestClient::Response& response) {
    ws.take(response);
    return response.closed.has_value();
  }));
  const std::optional<std::uint16_t> code = limited.wait_paced_close();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 4001) << "the END_STREAM ended the session before the held close frame";
  {
    const std::lock_guard lock(limited.mutex);
    EXPECT_EQ(limited.paced_messages, messages);
  }
  // The server answered the close (after the rest of its 100 KiB) and ended its side.
  EXPECT_EQ(ws.close_code, 4001);
  EXPECT_EQ(stream.h2.responses[stream.id].closed, NGHTTP2_NO_ERROR);
  EXPECT_FALSE(stream.h2.goaway_code.has_value());
}

// The same, and the peer never reads again: nothing more can come after its END_STREAM, so the
// held DATA reaches the session at once, paused or not: the application gets the message and
// the peer's close code (4001). The close reply cannot leave (the peer keeps its window shut):
// the close timeout ends the closing handshake and resets the stream; the connection goes on.
// (Before, the held DATA waited for the peer to read, and the session's idle timeout pinged,
// then closed with 1001: the application saw 1006, not the peer's code, nor its message.)
TEST(ServerHttp2Limits, AnEndOfStreamBehindDataHeldForeverDeliversItAndTheCloseTimeoutEndsIt) {
  LimitedH2Server limited(ServerOptions{}, [](Behavior& paced) { paced.close_timeout = 200ms; });
  PausedStream stream(limited);
  ASSERT_NO_FATAL_FAILURE(stream.open("/paced"));
  stream.ws.connection.send_text("m0");
  stream.ws.connection.close(4001, "done");
  ASSERT_NO_FATAL_FAILURE(stream.send_queued_and_end_stream());
  // The client reads nothing more: the close timeout ends the stream.
  ASSERT_TRUE(stream.wait_closed());
  EXPECT_EQ(stream.h2.responses[stream.id].closed, NGHTTP2_CANCEL);
  const std::optional<std::uint16_t> code = limited.wait_paced_close();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 4001);
  {
    const std::lock_guard lock(limited.mutex);
    EXPECT_EQ(limited.paced_messages, 1u);
  }
  EXPECT_FALSE(stream.h2.goaway_code.has_value());
  // The stream's session is gone: what remains counted is the connection.
  EXPECT_TRUE(limited.wait_connections(1));
}

// The peer ends its stream (END_STREAM) without a close frame while the session is paused (its
// peer does not read its answers) and holds its DATA: nothing more can come, so the held
// messages reach the application at once and the WebSocket ends right after them, an abnormal
// closure (1006; RFC 6455 §7.1.5), its stream reset. With the default timeouts: before, the end
// waited for the peer to read or for the session's idle timeouts (about 2 min 15 s).
TEST(ServerHttp2Limits, AnEndOfStreamBehindHeldDataWithoutACloseFrameEndsAtOnce) {
  LimitedH2Server limited(ServerOptions{});
  PausedStream stream(limited);
  ASSERT_NO_FATAL_FAILURE(stream.open("/paced"));
  constexpr std::size_t messages = 20;
  for (std::size_t i = 0; i < messages; ++i) {
    stream.ws.connection.send_text("m" + std::to_string(i));
  }
  ASSERT_NO_FATAL_FAILURE(stream.send_queued_and_end_stream());
  // The client reads nothing more.
  ASSERT_TRUE(stream.wait_closed());
  EXPECT_EQ(stream.h2.responses[stream.id].closed, NGHTTP2_CANCEL);
  const std::optional<std::uint16_t> code = limited.wait_paced_close(5s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1006);
  {
    const std::lock_guard lock(limited.mutex);
    EXPECT_EQ(limited.paced_messages, messages);
  }
  EXPECT_FALSE(stream.h2.goaway_code.has_value());
  EXPECT_TRUE(limited.wait_connections(1));
}

TEST(ServerHttp2Limits, AConnectionOverMaxConnectionsIsRefusedInHttp2) {
  ServerOptions options;
  options.max_connections = 1;
  LimitedH2Server limited(options);
  // The one connection allowed, known to the server once its page is answered.
  RawWsClient first(limited.running->port());
  H2TestClient first_h2;
  ASSERT_NO_FATAL_FAILURE(expect_page_served(first, first_h2));
  expect_refused_in_http2(limited, 503);
  const std::vector<Logged> log = limited.snapshot();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].status, 503);
  EXPECT_EQ(log[1].transport, Transport::http2);
  // The connection that was let in is still served.
  expect_page_served(first, first_h2);
}

TEST(ServerHttp2Limits, AConnectionOverItsAddressRateIsRefusedInHttp2WithRetryAfter) {
  // One token, then one every 100 s: the first connection takes it.
  LimitedH2Server limited(with_address_limits({.max_connections = 0,
                                               .handshakes_per_second = 0.01,
                                               .handshake_burst = 1,
                                               .exempt_loopback = false}));
  RawWsClient first(limited.running->port());
  H2TestClient first_h2;
  ASSERT_NO_FATAL_FAILURE(expect_page_served(first, first_h2));
  RawWsClient socket(limited.running->port());
  H2TestClient h2;
  const std::int32_t id = h2.request(testing::h2_get("/page", "http"));
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    return h2.responses[id].ended && h2.goaway_code.has_value();
  })) << "no HTTP/2 answer (an HTTP/1.1 one?)";
  EXPECT_EQ(status_of(h2, id), "429");
  const int seconds = std::stoi(h2.responses[id].header("retry-after").value_or("0"));
  EXPECT_GE(seconds, 90);
  EXPECT_LE(seconds, 100);
  EXPECT_EQ(h2.responses[id].data, "handshake rate of this address exceeded\n");
  EXPECT_EQ(h2.goaway_code, NGHTTP2_NO_ERROR);
  EXPECT_EQ(h2.goaway_last_stream, id);
  EXPECT_EQ(limited.server->address_limit_stats().refused_rate, 1u);
}

}  // namespace
}  // namespace wsx
