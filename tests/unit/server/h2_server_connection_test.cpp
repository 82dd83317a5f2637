// H2ServerConnection over real TLS sockets (ALPN h2) on one loop, with nghttp2's client session
// as the peer: plain requests reach ServerOptions::http, extended CONNECTs meet the same route,
// Origin, CSRF and upgrade decisions (sync and async) as an HTTP/1.1 upgrade, and the access log
// sees each answer.
#include "server/h2_server_connection.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "h2_socket_client.hpp"
#include "loop_watchdog.hpp"
#include "test_certs.hpp"
#include "wsx/io/connector.hpp"
#include "wsx/io/listener.hpp"
#include "wsx/proto/connection.hpp"

namespace wsx::server {
namespace {

using namespace std::chrono_literals;
using wsx::testing::H2TestClient;
using wsx::testing::StreamWebSocket;
using Fields = std::vector<std::pair<std::string, std::string>>;

// The stream's first handler, until the connection takes it over (at once).
class NoHandler final : public io::StreamHandler {
  void on_stream_data(std::span<std::uint8_t>) override {}
  std::size_t gather_output(std::span<io::ConstBuffer>) override { return 0; }
  void consume_output(std::size_t) override {}
  void on_stream_error(std::string_view) override {}
};

// The client side: nghttp2's client session on a TLS stream offering only h2.
class ClientPeer final : public io::StreamHandler {
 public:
  ClientPeer(io::EventLoop& loop, io::TcpSocket socket, const io::TlsContext& tls)
      : stream(loop, std::move(socket), *this, io::TlsSession(tls, "localhost")) {
    flush();
  }
  void flush() {
    pending += h2.take_output();
    stream.request_flush();
  }
  void on_stream_data(std::span<std::uint8_t> data) override {
    EXPECT_TRUE(h2.feed(data));
    flush();
    if (on_progress) on_progress();
  }
  std::size_t gather_output(std::span<io::ConstBuffer> out) override {
    if (pending.empty() || out.empty()) return 0;
    out[0] = std::span(reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size());
    return 1;
  }
  void consume_output(std::size_t n) override { pending.erase(0, n); }
  void on_stream_end() override {
    ended = true;
    if (on_progress) on_progress();
  }
  void on_stream_error(std::string_view reason) override {
    error = std::string(reason);
    if (on_progress) on_progress();
  }

  H2TestClient h2;
  std::string pending;
  bool ended = false;
  std::string error;
  std::function<void()> on_progress;
  io::Stream stream;
};

struct Harness final : H2ServerConnection::Owner {
  Harness() {
    // 16 MiB each way over TLS under ASan takes 13 s alone and over 20 s at load 15.
    test::arm_watchdog(loop, 60s);
    shared.options.handshake_timeout = 10s;
    shared.options.http = [](const HttpRequest& request) {
      proto::HttpResponse response;
      response.status = 200;
      response.body = "page " + std::string(request.path);
      if (auto cookie = request.cookie("b")) response.body += " b=" + std::string(*cookie);
      response.headers = {{"Content-Type", "text/plain"}, {"Connection", "close"}};
      return response;
    };
    shared.options.access_log = [this](const AccessRecord& record) {
      log.push_back(std::string(record.method) + " " + std::string(record.target) + " " +
                    std::to_string(record.status) +
                    (record.reason.empty() ? "" : " " + std::string(record.reason)));
    };
    io::TlsServerOptions server_options;
    server_options.certificate_chain_file = test::test_pki().server_chain;
    server_options.private_key_file = test::test_pki().server_key;
    server_options.alpn = {"h2"};
    shared.tls.emplace(io::TlsContext::server(server_options));
    io::TlsClientOptions client_options;
    client_options.ca_file = test::test_pki().ca_certificate;
    client_options.use_system_ca = false;
    client_options.alpn = {"h2"};
    client_tls = io::TlsContext::client(client_options);
  }

  void start() {
    EXPECT_FALSE(listener.listen(io::SocketAddress::ipv4_loopback(0)));
    connector.connect(listener.local_address(), [this](io::TcpSocket socket, std::error_code e) {
      ASSERT_FALSE(e) << e.message();
      client = std::make_unique<ClientPeer>(loop, std::move(socket), client_tls);
      client->on_progress = [this] {
        if (done && done()) loop.stop();
      };
      if (on_client) on_client();
    });
  }

  ~Harness() { delete connection; }  // one still open at the end (its WebSockets go with it)

  void release(H2ServerConnection& released) noexcept override {
    EXPECT_EQ(&released, connection);
    delete connection;
    connection = nullptr;
    ++releases;
    if (done && done()) loop.stop();
  }

  // Runs until `until` holds (checked after every client read and every release: it must
  // become true through one of them) or the watchdog fires.
  void run(std::function<bool()> until) {
    done = std::move(until);
    if (client && done()) return;  // (before the client exists, it cannot hold yet)
    loop.run();
  }

  ServerShared shared;
  io::EventLoop loop;
  NoHandler no_handler;
  H2ServerConnection* connection = nullptr;
  int releases = 0;
  H2Limits limits;
  io::Listener listener{loop, [this](io::TcpSocket socket, const io::SocketAddress& peer) {
                          auto stream = std::make_unique<io::Stream>(
                              loop, std::move(socket), no_handler, io::TlsSession(*shared.tls));
                          connection = new H2ServerConnection(shared, loop, std::move(stream),
                                                              *this, nullptr, peer, limits);
                          connection->start({});
                        }};
  io::Connector connector{loop};
  io::TlsContext client_tls;
  std::unique_ptr<ClientPeer> client;
  std::function<void()> on_client;
  std::function<bool()> done;
  std::vector<std::string> log;
};

Fields get(std::string path) {
  return {{":method", "GET"},
          {":scheme", "https"},
          {":path", std::move(path)},
          {":authority", "localhost"}};
}

Fields websocket(std::string path, std::string origin = "https://localhost") {
  return {{":method", "CONNECT"},       {":protocol", "websocket"},
          {":scheme", "https"},         {":path", std::move(path)},
          {":authority", "localhost"},  {"sec-websocket-version", "13"},
          {"origin", std::move(origin)}};
}

TEST(H2ServerConnection, PlainRequestsOnOneConnectionReachTheHttpHandler) {
  Harness h;
  h.start();
  std::int32_t a = 0, b = 0;
  h.on_client = [&] {
    a = h.client->h2.request(get("/one"));
    Fields with_cookies = get("/two?x=1");
    with_cookies.emplace_back("cookie", "a=1");
    with_cookies.emplace_back("cookie", "b=2");
    b = h.client->h2.request(with_cookies);
    h.client->flush();
  };
  h.run([&] { return h.client->h2.responses[a].ended && h.client->h2.responses[b].ended; });
  EXPECT_EQ(h.client->stream.tls()->alpn(), "h2");
  EXPECT_EQ(h.client->h2.responses[a].header(":status"), "200");
  EXPECT_EQ(h.client->h2.responses[a].data, "page /one");
  EXPECT_EQ(h.client->h2.responses[b].data, "page /two b=2");
  EXPECT_FALSE(h.client->h2.responses[a].header("connection"));
  EXPECT_EQ(h.log, (std::vector<std::string>{"GET /one 200", "GET /two?x=1 200"}));
  ASSERT_NE(h.connection, nullptr);  // the connection stays for more requests
}

TEST(H2ServerConnection, ExtendedConnectMeetsTheRoutesChecksAndDecisions) {
  Harness h;
  h.limits.enable_connect_protocol = true;
  h.shared.router.add("/chat", {});
  Behavior refusing;
  refusing.upgrade = [](const UpgradeRequest& request) {
    EXPECT_EQ(request.method, "CONNECT");
    EXPECT_EQ(request.query, "who=me");
    return UpgradeDecision::reject(401, "who are you?\n", {{"WWW-Authenticate", "Basic"}});
  };
  h.shared.router.add("/private", std::move(refusing));
  h.start();
  std::map<std::string, std::int32_t> ids;
  h.on_client = [&] {
    ids["other origin"] = h.client->h2.request(websocket("/chat", "https://evil.example"));
    ids["no route"] = h.client->h2.request(websocket("/nowhere"));
    ids["plain GET to a WebSocket route"] = h.client->h2.request(get("/chat"));
    Fields old_version = websocket("/chat");
    old_version[5].second = "8";
    ids["version 8"] = h.client->h2.request(old_version);
    ids["refused by the route"] = h.client->h2.request(websocket("/private?who=me"));
    ids["accepted"] = h.client->h2.request(websocket("/chat"));
    h.client->flush();
  };
  h.run([&] {
    for (const auto& [name, id] : ids) {
      // Refusals end their stream; the accepted one stays open (its WebSocket runs).
      const H2TestClient::Response& response = h.client->h2.responses[id];
      if (name == "accepted" ? !response.header(":status") : !response.ended) return false;
    }
    return !ids.empty();
  });
  auto status = [&](const std::string& name) {
    return h.client->h2.responses[ids[name]].header(":status").value_or("none");
  };
  EXPECT_EQ(h.client->h2.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
  EXPECT_EQ(status("other origin"), "403");
  EXPECT_EQ(status("no route"), "404");
  EXPECT_EQ(status("plain GET to a WebSocket route"), "426");
  EXPECT_EQ(status("version 8"), "426");
  EXPECT_EQ(h.client->h2.responses[ids["version 8"]].header("sec-websocket-version"), "13");
  EXPECT_FALSE(h.client->h2.responses[ids["version 8"]].header("upgrade"));
  EXPECT_EQ(status("refused by the route"), "401");
  EXPECT_EQ(h.client->h2.responses[ids["refused by the route"]].header("www-authenticate"),
            "Basic");
  EXPECT_EQ(h.client->h2.responses[ids["refused by the route"]].data, "who are you?\n");
  EXPECT_EQ(status("accepted"), "200");
}

TEST(H2ServerConnection, AsyncDecisionFromAnotherThreadAnswersItsStream) {
  Harness h;
  h.limits.enable_connect_protocol = true;
  std::vector<std::thread> deciders;
  Behavior behavior;
  behavior.upgrade_async = [&](const UpgradeRequest& request, UpgradeResponder responder) {
    const bool allowed = request.query == "ok";
    deciders.emplace_back([allowed, responder = std::move(responder)]() mutable {
      std::this_thread::sleep_for(20ms);
      if (allowed) {
        responder.accept();
      } else {
        responder.reject(403, "not today\n");
      }
    });
  };
  h.shared.router.add("/slow", std::move(behavior));
  h.start();
  std::int32_t refused = 0, accepted = 0;
  h.on_client = [&] {
    refused = h.client->h2.request(websocket("/slow?no"));
    accepted = h.client->h2.request(websocket("/slow?ok"));
    h.client->flush();
  };
  h.run([&] {
    return h.client->h2.responses[refused].ended &&
           h.client->h2.responses[accepted].header(":status").has_value();
  });
  for (std::thread& t : deciders) t.join();
  EXPECT_EQ(h.client->h2.responses[refused].header(":status"), "403");
  EXPECT_EQ(h.client->h2.responses[refused].data, "not today\n");
  EXPECT_EQ(h.client->h2.responses[accepted].header(":status"), "200");
}

TEST(H2ServerConnection, AStreamResetWhileItsDecisionIsPendingIsForgotten) {
  Harness h;
  h.limits.enable_connect_protocol = true;
  std::optional<UpgradeResponder> kept;
  Behavior behavior;
  behavior.upgrade_async = [&](const UpgradeRequest&, UpgradeResponder responder) {
    kept.emplace(std::move(responder));
  };
  h.shared.router.add("/slow", std::move(behavior));
  h.start();
  std::int32_t id = 0;
  h.on_client = [&] {
    id = h.client->h2.request(websocket("/slow"));
    h.client->flush();
  };
  h.run([&] { return kept.has_value(); });
  EXPECT_TRUE(kept->connection_alive());
  nghttp2_submit_rst_stream(h.client->h2.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  h.client->flush();
  // The server learns of the reset; then a ping round trip proves it has processed it.
  nghttp2_submit_ping(h.client->h2.session(), NGHTTP2_FLAG_NONE, nullptr);
  h.client->flush();
  h.run([&] { return !kept->connection_alive(); });
  EXPECT_FALSE(kept->accept());  // answers nothing
}

TEST(H2ServerConnection, NotHttp2AtAllClosesTheConnection) {
  Harness h;
  h.start();
  h.on_client = [&] {
    h.client->pending = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";  // instead of the preface
    h.client->stream.request_flush();
  };
  h.run([&] { return h.client->ended || !h.client->error.empty(); });
  EXPECT_TRUE(h.client->ended) << h.client->error;  // the server closed: TLS close, then FIN
  h.client->stream.close();                         // our FIN ends the server's lingering close
  h.client.reset();
  h.run([&] { return h.releases == 1; });
  EXPECT_EQ(h.connection, nullptr);
}

TEST(H2ServerConnection, GoingAwaySendsGoawayAndCloses) {
  Harness h;
  h.start();
  std::int32_t id = 0;
  h.on_client = [&] {
    id = h.client->h2.request(get("/"));
    h.client->flush();
  };
  h.run([&] { return h.client->h2.responses[id].ended; });
  h.connection->going_away();
  h.run([&] { return h.client->h2.goaway_code.has_value(); });
  EXPECT_EQ(h.client->h2.goaway_code, NGHTTP2_NO_ERROR);
  nghttp2_session_terminate_session(h.client->h2.session(), NGHTTP2_NO_ERROR);
  h.client->flush();
  h.run([&] { return h.client->ended || !h.client->error.empty(); });
  EXPECT_TRUE(h.client->ended) << h.client->error;
  h.client.reset();
  h.run([&] { return h.releases == 1; });
  EXPECT_EQ(h.connection, nullptr);
}

TEST(H2ServerConnection, APeerThatNeverClosesAfterGoawayIsDroppedAfterTheLinger) {
  Harness h;
  h.start();
  std::int32_t id = 0;
  h.on_client = [&] {
    id = h.client->h2.request(get("/"));
    h.client->flush();
  };
  h.run([&] { return h.client->h2.responses[id].ended; });
  h.connection->going_away();
  const auto start = std::chrono::steady_clock::now();
  // The client reads everything (GOAWAY, close_notify, FIN) but never closes its side.
  h.run([&] { return h.releases == 1; });
  EXPECT_EQ(h.releases, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

// ---- WebSockets on streams (RFC 8441 §5)

Behavior echo_behavior(std::vector<std::string>* events = nullptr) {
  Behavior behavior;
  behavior.max_message_size = 64 * 1024 * 1024;
  behavior.message = [](WebSocket& ws, Message message) { ws.send(message.data, message.kind); };
  behavior.open = [events](WebSocket& ws) {
    if (events)
      events->push_back(std::string("open ") + (ws.transport() == Transport::http2 ? "h2" : "h1"));
  };
  behavior.close = [events](WebSocket&, const CloseInfo& info) {
    if (events) events->push_back("close " + std::to_string(info.code));
  };
  return behavior;
}

TEST(H2ServerConnection, TwoWebSocketsOnOneConnectionEchoOnTheirStreams) {
  std::vector<std::string> events;  // outlives the harness, whose end closes the WebSockets
  Harness h;
  h.limits.enable_connect_protocol = true;
  h.shared.router.add("/echo", echo_behavior(&events));
  h.start();
  std::int32_t a = 0, b = 0;
  StreamWebSocket wa, wb;
  h.on_client = [&] {
    a = h.client->h2.request(websocket("/echo"), std::nullopt, true);
    b = h.client->h2.request(websocket("/echo"), std::nullopt, true);
    h.client->flush();
  };
  h.run([&] {
    return h.client->h2.responses[a].header(":status") &&
           h.client->h2.responses[b].header(":status");
  });
  EXPECT_EQ(h.client->h2.responses[a].header(":status"), "200");
  EXPECT_EQ(h.client->h2.responses[b].header(":status"), "200");
  wa.connection.send_text("to a");
  wa.send_queued(h.client->h2, a);
  wb.connection.send_text("to b");
  wb.send_queued(h.client->h2, b);
  h.client->flush();
  h.run([&] {
    wa.take(h.client->h2.responses[a]);
    wb.take(h.client->h2.responses[b]);
    return !wa.messages.empty() && !wb.messages.empty();
  });
  EXPECT_EQ(wa.messages, std::vector<std::string>{"to a"});
  EXPECT_EQ(wb.messages, std::vector<std::string>{"to b"});
  EXPECT_EQ(h.connection->websockets(), 2u);
  // A clean close from the client on a: close frames both ways, then END_STREAM.
  wa.connection.close(1000, "bye");
  wa.send_queued(h.client->h2, a);
  h.client->flush();
  h.run([&] {
    wa.take(h.client->h2.responses[a]);
    return wa.close_code.has_value() && h.client->h2.responses[a].ended;
  });
  EXPECT_EQ(wa.close_code, 1000);
  h.client->h2.send_more(a, "", true);  // our END_STREAM
  h.client->flush();
  h.run([&] { return h.client->h2.responses[a].closed.has_value(); });
  EXPECT_EQ(h.client->h2.responses[a].closed, NGHTTP2_NO_ERROR);
  EXPECT_EQ(events, (std::vector<std::string>{"open h2", "open h2", "close 1000"}));
}

TEST(H2ServerConnection, SixteenMebibytesEachWayAcrossFlowControlWindows) {
  Harness h;
  h.limits.enable_connect_protocol = true;
  h.shared.router.add("/echo", echo_behavior());
  h.start();
  std::int32_t id = 0;
  StreamWebSocket ws;
  h.on_client = [&] {
    id = h.client->h2.request(websocket("/echo"), std::nullopt, true);
    h.client->flush();
  };
  h.run([&] { return h.client->h2.responses[id].header(":status").has_value(); });
  std::string big(16 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ws.connection.send_text(big);
  ws.send_queued(h.client->h2, id);
  h.client->flush();
  h.run([&] {
    ws.take(h.client->h2.responses[id]);
    return !ws.messages.empty();
  });
  ASSERT_EQ(ws.messages.size(), 1u);
  EXPECT_TRUE(ws.messages[0] == big);
}

TEST(H2ServerConnection, ResetStreamFailsTheWebSocketWith1006) {
  std::vector<std::string> events;  // outlives the harness, whose end closes the WebSockets
  Harness h;
  h.limits.enable_connect_protocol = true;
  h.shared.router.add("/echo", echo_behavior(&events));
  h.start();
  std::int32_t id = 0;
  h.on_client = [&] {
    id = h.client->h2.request(websocket("/echo"), std::nullopt, true);
    h.client->flush();
  };
  h.run([&] { return h.client->h2.responses[id].header(":status").has_value(); });
  nghttp2_submit_rst_stream(h.client->h2.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  nghttp2_submit_ping(h.client->h2.session(), NGHTTP2_FLAG_NONE, nullptr);
  h.client->flush();
  h.run([&] { return events.size() == 2; });
  EXPECT_EQ(events, (std::vector<std::string>{"open h2", "close 1006"}));
  EXPECT_EQ(h.connection->websockets(), 0u);
}

TEST(H2ServerConnection, GoingAwayClosesWebSocketsWith1001ThenGoaway) {
  Harness h;
  h.limits.enable_connect_protocol = true;
  h.shared.router.add("/echo", echo_behavior());
  h.start();
  std::int32_t id = 0;
  StreamWebSocket ws;
  h.on_client = [&] {
    id = h.client->h2.request(websocket("/echo"), std::nullopt, true);
    h.client->flush();
  };
  h.run([&] { return h.client->h2.responses[id].header(":status").has_value(); });
  h.connection->going_away();
  h.run([&] {
    ws.take(h.client->h2.responses[id]);
    return ws.close_code.has_value() && h.client->h2.goaway_code.has_value();
  });
  EXPECT_EQ(ws.close_code, 1001);
  EXPECT_EQ(h.client->h2.goaway_code, NGHTTP2_NO_ERROR);
  // The close frame came before the GOAWAY (nghttp2 would put a GOAWAY submitted with it first).
  StreamWebSocket before_goaway;
  before_goaway.take(h.client->h2.responses[id], h.client->h2.data_at_goaway[id]);
  EXPECT_EQ(before_goaway.close_code, 1001);
}

}  // namespace
}  // namespace wsx::server
