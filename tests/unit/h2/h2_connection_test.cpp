// H2Connection against nghttp2's client session, in memory: the settings it announces, the
// requests it hands over (as the HttpHead an HTTP/1.1 request parses into), answers, flow
// control by hand, and the limits against hostile peers.
#include "h2/h2_connection.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "h2_test_client.hpp"

namespace wsx::h2 {
namespace {

using wsx::testing::H2TestClient;

struct SeenRequest {
  std::string method, target, protocol, scheme;
  std::vector<std::pair<std::string, std::string>> headers;
  bool end_stream = false;
  int version_major = 0;
};

// Records what the connection reports; answers as the test says.
class Recorder final : public H2Handler {
 public:
  std::function<void(H2Request&)> answer;
  std::map<std::int32_t, SeenRequest> requests;
  std::map<std::int32_t, std::string> data;
  std::map<std::int32_t, std::uint32_t> closed;
  std::vector<std::int32_t> remote_ends;
  std::map<std::int32_t, std::size_t> unconsumed;

  void on_request(H2Request& request) override {
    SeenRequest& seen = requests[request.stream_id];
    seen.method = request.head.method;
    seen.target = request.head.target;
    seen.protocol = request.head.protocol;
    seen.scheme = request.scheme;
    seen.end_stream = request.end_stream;
    seen.version_major = request.head.version_major;
    for (const proto::HttpHeader& h : request.head.headers) {
      seen.headers.emplace_back(h.name, h.value);
    }
    if (answer) answer(request);
  }
  void on_data(std::int32_t id, std::span<const std::uint8_t> bytes) override {
    data[id].append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    unconsumed[id] += bytes.size();
  }
  void on_remote_end(std::int32_t id) override { remote_ends.push_back(id); }
  void on_stream_closed(std::int32_t id, std::uint32_t error) override { closed[id] = error; }
  void on_send_window_update() override { ++window_updates; }
  int window_updates = 0;
};

// Moves bytes both ways until neither side has anything to say. False when the server's
// receive() failed (its last output still reaches the client).
bool pump(H2TestClient& client, H2Connection& server) {
  bool ok = true;
  for (int round = 0; round < 1000; ++round) {
    const std::string to_server = client.take_output();
    if (!to_server.empty() && ok) {
      ok = server.receive(
          {reinterpret_cast<const std::uint8_t*>(to_server.data()), to_server.size()});
    }
    std::string to_client;
    for (std::span<const std::uint8_t> out = server.output(); !out.empty(); out = server.output()) {
      to_client.append(reinterpret_cast<const char*>(out.data()), out.size());
      server.consume_output(out.size());
    }
    if (!to_client.empty()) client.feed(to_client);
    if (to_server.empty() && to_client.empty()) break;
  }
  return ok;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields websocket_connect(std::string path = "/chat") {
  return {{":method", "CONNECT"},         {":protocol", "websocket"},
          {":scheme", "https"},           {":path", std::move(path)},
          {":authority", "a.example"},    {"sec-websocket-version", "13"},
          {"origin", "https://a.example"}};
}

Fields get(std::string path = "/") {
  return {{":method", "GET"},
          {":scheme", "https"},
          {":path", std::move(path)},
          {":authority", "a.example"}};
}

std::optional<std::string> find(const Fields& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return std::nullopt;
}

TEST(H2Connection, AnnouncesExtendedConnectAndItsLimits) {
  Recorder recorder;
  H2Limits limits;
  limits.max_concurrent_streams = 7;
  limits.max_header_list_size = 9000;
  limits.stream_window = 100000;
  H2Connection server(recorder, limits);
  H2TestClient client;
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
  EXPECT_EQ(client.remote_setting(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 7u);
  EXPECT_EQ(client.remote_setting(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 9000u);
  EXPECT_EQ(client.remote_setting(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE), 100000u);
}

TEST(H2Connection, WithoutConnectProtocolTheExtendedConnectIsRefused) {
  Recorder recorder;
  H2Limits limits;
  limits.enable_connect_protocol = false;
  H2Connection server(recorder, limits);
  H2TestClient client;
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 0u);
  const std::int32_t id = client.request(websocket_connect());
  // nghttp2's client itself refuses to send :protocol to a server that did not enable it.
  if (id > 0) {
    pump(client, server);
    EXPECT_TRUE(recorder.requests.empty());
  }
}

TEST(H2Connection, ExtendedConnectBecomesTheHeadAnHttp1RequestParsesInto) {
  Recorder recorder;
  H2Connection server(recorder, {});
  H2TestClient client;
  pump(client, server);
  Fields fields = websocket_connect("/chat?room=1");
  fields.emplace_back("sec-websocket-protocol", "chat, superchat");
  fields.emplace_back("cookie", "a=1");
  fields.emplace_back("cookie", "b=2");
  const std::int32_t id = client.request(fields, std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  ASSERT_EQ(recorder.requests.count(id), 1u);
  const SeenRequest& seen = recorder.requests[id];
  EXPECT_EQ(seen.method, "CONNECT");
  EXPECT_EQ(seen.protocol, "websocket");
  EXPECT_EQ(seen.scheme, "https");
  EXPECT_EQ(seen.target, "/chat?room=1");
  EXPECT_EQ(seen.version_major, 2);
  EXPECT_FALSE(seen.end_stream);
  EXPECT_EQ(find(seen.headers, "host"), "a.example");
  EXPECT_EQ(find(seen.headers, "origin"), "https://a.example");
  EXPECT_EQ(find(seen.headers, "cookie"), "a=1; b=2");
  EXPECT_EQ(find(seen.headers, "sec-websocket-protocol"), "chat, superchat");
  EXPECT_FALSE(find(seen.headers, ":path"));
}

TEST(H2Connection, TheHandshakeCheckAcceptsTheDeliveredHead) {
  Recorder recorder;
  H2Connection server(recorder, {});
  std::optional<proto::UpgradeError> verdict;
  recorder.answer = [&](H2Request& request) {
    verdict = proto::check_upgrade_request(request.head).error;
  };
  H2TestClient client;
  client.request(websocket_connect(), std::nullopt, true);
  pump(client, server);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(*verdict, proto::UpgradeError::none) << proto::describe(*verdict);
}

TEST(H2Connection, WholeResponseWithoutConnectionSpecificFields) {
  Recorder recorder;
  H2Connection server(recorder, {});
  recorder.answer = [&](H2Request& request) {
    proto::HttpResponse response;
    response.status = 200;
    response.body = "hello";
    response.headers = {{"Content-Type", "text/plain"}, {"Connection", "close"},
                        {"Upgrade", "websocket"},       {"X-Bad", "a\r\nb"},
                        {"Content-Length", "999"},      {"bad name", "x"}};
    server.respond(request.stream_id, response);
  };
  H2TestClient client;
  const std::int32_t id = client.request(get("/page"));
  ASSERT_TRUE(pump(client, server));
  const H2TestClient::Response& response = client.responses[id];
  EXPECT_EQ(response.header(":status"), "200");
  EXPECT_EQ(response.header("content-type"), "text/plain");
  EXPECT_EQ(response.header("content-length"), "5");
  EXPECT_FALSE(response.header("connection"));
  EXPECT_FALSE(response.header("upgrade"));
  EXPECT_FALSE(response.header("x-bad"));
  EXPECT_EQ(response.data, "hello");
  EXPECT_TRUE(response.ended);
  EXPECT_EQ(response.closed, NGHTTP2_NO_ERROR);  // the peer accepted the response as valid
  EXPECT_EQ(recorder.closed[id], NGHTTP2_NO_ERROR);
  EXPECT_EQ(server.open_streams(), 0u);
}

TEST(H2Connection, HeadResponseAnnouncesTheLengthWithoutTheBody) {
  Recorder recorder;
  H2Connection server(recorder, {});
  recorder.answer = [&](H2Request& request) {
    proto::HttpResponse response;
    response.status = 200;
    response.body = "hello";
    server.respond(request.stream_id, response, true);
  };
  H2TestClient client;
  Fields fields = get();
  fields[0].second = "HEAD";
  const std::int32_t id = client.request(fields);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[id].header("content-length"), "5");
  // The body it would have, given without a type, is declared as HTTP/1.1's serialize() does.
  EXPECT_EQ(client.responses[id].header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(client.responses[id].data, "");
  EXPECT_TRUE(client.responses[id].ended);
}

TEST(H2Connection, AnEarlyResponseAsksTheClientToStopSendingWithoutError) {
  Recorder recorder;
  H2Connection server(recorder, {});
  recorder.answer = [&](H2Request& request) {
    proto::HttpResponse response;
    response.status = 413;
    server.respond(request.stream_id, response);
  };
  H2TestClient client;
  Fields fields = get("/upload");
  fields[0].second = "POST";
  const std::int32_t id = client.request(fields, std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[id].header(":status"), "413");
  EXPECT_EQ(client.responses[id].closed, NGHTTP2_NO_ERROR);
  EXPECT_EQ(server.open_streams(), 0u);
}

TEST(H2Connection, HeaderListOverTheLimitGets431) {
  Recorder recorder;
  H2Limits limits;
  limits.max_header_list_size = 1000;
  H2Connection server(recorder, limits);
  H2TestClient client;
  pump(client, server);  // the client learns the limit; nghttp2 does not enforce it on send
  Fields fields = get();
  fields.emplace_back("x-large", std::string(2000, 'a'));
  const std::int32_t id = client.request(fields);
  ASSERT_TRUE(pump(client, server));
  EXPECT_TRUE(recorder.requests.empty());
  EXPECT_EQ(client.responses[id].header(":status"), "431");
  EXPECT_EQ(client.responses[id].header("content-type"), "text/plain; charset=utf-8");
  // The connection goes on: the next request is served.
  recorder.answer = [&](H2Request& request) { server.respond(request.stream_id, {.status = 204}); };
  const std::int32_t next = client.request(get());
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[next].header(":status"), "204");
}

TEST(H2Connection, TooManyFieldsGet431) {
  Recorder recorder;
  H2Limits limits;
  limits.max_headers = 10;
  H2Connection server(recorder, limits);
  H2TestClient client;
  Fields fields = get();
  for (int i = 0; i < 10; ++i) fields.emplace_back("x-" + std::to_string(i), "v");
  const std::int32_t id = client.request(fields);
  ASSERT_TRUE(pump(client, server));
  EXPECT_TRUE(recorder.requests.empty());
  EXPECT_EQ(client.responses[id].header(":status"), "431");
}

TEST(H2Connection, StreamsOverTheConcurrencyLimitAreRefused) {
  Recorder recorder;  // answers nothing: every stream stays open
  H2Limits limits;
  limits.max_concurrent_streams = 2;
  H2Connection server(recorder, limits);
  H2TestClient client;
  pump(client, server);
  // nghttp2's client holds requests past the server's limit; make it send them anyway by
  // opening them before it has seen the limit: a fresh client.
  H2TestClient eager;
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(eager.request(get(), std::nullopt, true));
  H2Connection fresh(recorder, limits);
  ASSERT_TRUE(pump(eager, fresh));
  EXPECT_EQ(recorder.requests.size(), 2u);
  EXPECT_EQ(eager.responses[ids[2]].closed, NGHTTP2_REFUSED_STREAM);
  EXPECT_EQ(fresh.open_streams(), 2u);
}

TEST(H2Connection, DataWaitsForConsumeBeyondTheStreamWindow) {
  Recorder recorder;
  H2Limits limits;
  limits.stream_window = 64 * 1024;
  H2Connection server(recorder, limits);
  H2TestClient client;
  pump(client, server);
  const std::string upload(300 * 1024, 'x');
  const std::int32_t id = client.request(get("/in"), upload);
  ASSERT_TRUE(pump(client, server));
  // Nothing consumed: the peer may send one window, not more.
  EXPECT_EQ(recorder.data[id].size(), limits.stream_window);
  for (int round = 0; round < 10 && recorder.data[id].size() < upload.size(); ++round) {
    server.consume(id, recorder.unconsumed[id]);
    recorder.unconsumed[id] = 0;
    ASSERT_TRUE(pump(client, server));
  }
  EXPECT_EQ(recorder.data[id], upload);
  EXPECT_EQ(recorder.remote_ends, std::vector<std::int32_t>{id});
}

// A streaming body produced as the test says, like a WebSocket's frames.
class TestSource final : public H2Source {
 public:
  std::string pending;
  bool end = false;
  Chunk read(std::span<std::uint8_t> buffer) override {
    const std::size_t n = std::min(buffer.size(), pending.size());
    std::copy_n(pending.data(), n, buffer.data());
    pending.erase(0, n);
    return {n, end && pending.empty()};
  }
};

TEST(H2Connection, StreamingResponseWaitsForItsSourceAndTheClientWindow) {
  Recorder recorder;
  H2Connection server(recorder, {});
  TestSource source;
  recorder.answer = [&](H2Request& request) {
    server.respond_streaming(request.stream_id, 200, {{"sec-websocket-protocol", "chat"}}, source);
  };
  H2TestClient client;
  const std::int32_t id = client.request(websocket_connect(), std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[id].header(":status"), "200");
  EXPECT_EQ(client.responses[id].header("sec-websocket-protocol"), "chat");
  EXPECT_FALSE(client.responses[id].header("content-length"));
  EXPECT_EQ(client.responses[id].data, "");
  // 1 MiB: more than the client's default window (64 KiB), which it reopens as it reads.
  const std::string message(1024 * 1024, 'm');
  source.pending = message;
  server.resume(id);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[id].data, message);
  EXPECT_FALSE(client.responses[id].ended);
  source.end = true;
  server.resume(id);
  ASSERT_TRUE(pump(client, server));
  EXPECT_TRUE(client.responses[id].ended);
}

TEST(H2Connection, OutputBlockedByTheClientWindowGoesOnAfterItsWindowUpdate) {
  Recorder recorder;
  H2Connection server(recorder, {});
  TestSource source;
  recorder.answer = [&](H2Request& request) {
    server.respond_streaming(request.stream_id, 200, {}, source);
  };
  // A client that reopens its window only when told to.
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  H2TestClient client(option);
  nghttp2_option_del(option);
  const std::int32_t id = client.request(websocket_connect(), std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  source.pending = std::string(100000, 'w');
  server.resume(id);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[id].data.size(), 65535u);  // the client's initial window
  EXPECT_LE(server.send_window(id), 0);
  const int updates_before = recorder.window_updates;
  nghttp2_session_consume(client.session(), id, client.responses[id].data.size());
  ASSERT_TRUE(pump(client, server));
  EXPECT_GT(recorder.window_updates, updates_before);
  EXPECT_GT(server.send_window(id), 0);
  server.resume(id);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[id].data.size(), 100000u);
}

TEST(H2Connection, AForgottenSourceIsNeverReadAgainAndItsStreamIsReset) {
  Recorder recorder;
  H2Connection server(recorder, {});
  auto source = std::make_unique<TestSource>();
  recorder.answer = [&](H2Request& request) {
    server.respond_streaming(request.stream_id, 200, {}, *source);
  };
  H2TestClient client;
  const std::int32_t id = client.request(websocket_connect(), std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  server.forget_source(id);
  source.reset();  // a read now would be a use after free (ASan)
  server.resume(id);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[id].closed, NGHTTP2_CANCEL);
}

// A source whose read ends its stream, as a WebSocket's drain callback that terminates does
// (inside nghttp2's data-read callback): the bytes it produced are not sent, and the stream is
// reset with the code asked for, once. nghttp2's rule for a data-read callback that submitted
// RST_STREAM is to return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE, not the size.
TEST(H2Connection, ASourceWhoseReadResetsItsStreamSendsNoDataAfterTheReset) {
  Recorder recorder;
  H2Connection server(recorder, {});
  struct EndingSource final : H2Source {
    H2Connection* server = nullptr;
    std::int32_t id = 0;
    bool ended = false;
    int reads = 0;
    Chunk read(std::span<std::uint8_t> buffer) override {
      ++reads;
      if (ended) return {};
      const std::string_view last = "last message";
      std::copy_n(last.data(), last.size(), buffer.data());
      ended = true;
      server->forget_source(id);  // what the release of a terminated WebSocket does
      return {last.size(), false};
    }
  } source;
  source.server = &server;
  recorder.answer = [&](H2Request& request) {
    source.id = request.stream_id;
    server.respond_streaming(request.stream_id, 200, {}, source);
  };
  H2TestClient client;
  const std::int32_t id = client.request(websocket_connect(), std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  ASSERT_EQ(source.reads, 1);
  EXPECT_EQ(client.responses[id].header(":status"), "200");
  EXPECT_EQ(client.responses[id].data, "");  // before: "last message", then the reset
  EXPECT_EQ(client.responses[id].closed, NGHTTP2_CANCEL);
  EXPECT_EQ(recorder.closed[id], NGHTTP2_CANCEL);
  EXPECT_EQ(source.reads, 1);
  // The connection goes on.
  const std::int32_t next = client.request(get("/next"));
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(recorder.requests.count(next), 1u);
  EXPECT_FALSE(client.goaway_code);
}

TEST(H2Connection, ResetByThePeerReportsItsCode) {
  Recorder recorder;
  H2Connection server(recorder, {});
  H2TestClient client;
  const std::int32_t id = client.request(websocket_connect(), std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  ASSERT_EQ(recorder.requests.count(id), 1u);
  nghttp2_submit_rst_stream(client.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(recorder.closed[id], NGHTTP2_CANCEL);
  EXPECT_EQ(server.open_streams(), 0u);
}

TEST(H2Connection, ResetByTheServerEndsTheStream) {
  Recorder recorder;
  H2Connection server(recorder, {});
  H2TestClient client;
  const std::int32_t id = client.request(websocket_connect(), std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  server.reset(id, H2Error::cancel);
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.responses[id].closed, NGHTTP2_CANCEL);
  EXPECT_EQ(recorder.closed[id], NGHTTP2_CANCEL);
}

TEST(H2Connection, ShutdownSendsGoawayAndOpenStreamsFinish) {
  Recorder recorder;
  H2Connection server(recorder, {});
  H2TestClient client;
  const std::int32_t id = client.request(websocket_connect(), std::nullopt, true);
  ASSERT_TRUE(pump(client, server));
  server.shutdown();
  ASSERT_TRUE(pump(client, server));
  EXPECT_EQ(client.goaway_code, NGHTTP2_NO_ERROR);
  EXPECT_EQ(client.goaway_last_stream, id);
  EXPECT_FALSE(server.finished());  // the stream is still open
  server.respond(id, {.status = 200});
  ASSERT_TRUE(pump(client, server));
  nghttp2_session_terminate_session(client.session(), NGHTTP2_NO_ERROR);
  pump(client, server);
  EXPECT_TRUE(server.finished());
}

TEST(H2Connection, RapidResetEndsTheConnection) {
  // CVE-2023-44487: open a stream, reset it, again and again, faster than the bucket refills.
  Recorder recorder;
  H2Limits limits;
  limits.reset_burst = 20;
  limits.resets_per_second = 1;
  H2Connection server(recorder, limits);
  H2TestClient client;
  pump(client, server);
  bool ok = true;
  for (int i = 0; i < 100 && ok && !client.goaway_code; ++i) {
    const std::int32_t id = client.request(get(), std::nullopt, true);
    std::string bytes = client.take_output();  // the HEADERS
    nghttp2_submit_rst_stream(client.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    bytes += client.take_output();  // and the RST_STREAM right behind it
    ok = server.receive({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    ok = pump(client, server) && ok;
  }
  // nghttp2's answer (as upstream's): GOAWAY(INTERNAL_ERROR) once the bucket is empty.
  EXPECT_EQ(client.goaway_code, NGHTTP2_INTERNAL_ERROR);
  EXPECT_EQ(recorder.requests.size(), 21u);  // the burst, and the one that emptied it
  EXPECT_TRUE(server.finished());
}

TEST(H2Connection, PingFloodFromAPeerThatDoesNotReadEndsTheConnection) {
  Recorder recorder;
  H2Limits limits;
  limits.max_outbound_ack = 50;
  H2Connection server(recorder, limits);
  H2TestClient client;
  pump(client, server);
  // PINGs without reading the answers: the server's output is never taken.
  bool ok = true;
  for (int i = 0; i < 200 && ok; ++i) {
    nghttp2_submit_ping(client.session(), NGHTTP2_FLAG_NONE, nullptr);
    const std::string bytes = client.take_output();
    ok = server.receive({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  EXPECT_FALSE(ok);
  EXPECT_NE(server.error().find("Flooding"), std::string::npos) << server.error();
}

TEST(H2Connection, SettingsFloodFromAPeerThatDoesNotReadEndsTheConnection) {
  Recorder recorder;
  H2Limits limits;
  limits.max_outbound_ack = 50;
  H2Connection server(recorder, limits);
  H2TestClient client;
  pump(client, server);
  bool ok = true;
  for (int i = 0; i < 200 && ok; ++i) {
    nghttp2_submit_settings(client.session(), NGHTTP2_FLAG_NONE, nullptr, 0);
    const std::string bytes = client.take_output();
    ok = server.receive({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  EXPECT_FALSE(ok);
}

TEST(H2Connection, ContinuationFloodEndsTheConnection) {
  // CVE-2024-28182: a header block split over more CONTINUATION frames than allowed.
  Recorder recorder;
  H2Limits limits;
  limits.max_continuations = 4;
  H2Connection server(recorder, limits);
  H2TestClient client;
  pump(client, server);
  // Hand-made frames: HEADERS (stream 1, no END_HEADERS) then CONTINUATIONs of literal fields.
  auto frame = [](std::uint8_t type, std::uint8_t flags, std::string_view payload) {
    std::string f;
    f += static_cast<char>((payload.size() >> 16) & 0xff);
    f += static_cast<char>((payload.size() >> 8) & 0xff);
    f += static_cast<char>(payload.size() & 0xff);
    f += static_cast<char>(type);
    f += static_cast<char>(flags);
    f += std::string("\x00\x00\x00\x01", 4);
    f += payload;
    return f;
  };
  // :method GET (index 2), :scheme https (7), :path / (4), then literal fields "x: y" without
  // indexing (0x00, name length, name, value length, value).
  auto headers = [&](std::uint8_t stream, int continuations, bool end) {
    std::string bytes = frame(0x1, 0x0, std::string("\x82\x87\x84", 3));
    bytes[8] = static_cast<char>(stream);
    for (int i = 0; i < continuations; ++i) {
      bytes +=
          frame(0x9, end && i == continuations - 1 ? 0x4 : 0x0, std::string("\x00\x01x\x01y", 5));
      bytes[bytes.size() - 6] = static_cast<char>(stream);
    }
    return bytes;
  };
  // Within the limit (and with :authority missing, which HTTP/2 allows for GET), delivered.
  std::string within = headers(1, 4, true);
  within.insert(9,
                "\x41\x01"
                "a",
                3);  // :authority "a" (literal, indexed name 1)
  within[2] = static_cast<char>(within[2] + 3);
  ASSERT_TRUE(server.receive({reinterpret_cast<const std::uint8_t*>(within.data()), within.size()}))
      << server.error();
  EXPECT_EQ(recorder.requests.size(), 1u) << server.peer_error();
  const std::string flood = headers(3, 10, false);
  EXPECT_FALSE(server.receive({reinterpret_cast<const std::uint8_t*>(flood.data()), flood.size()}));
  EXPECT_NE(server.error().find("CONTINUATION"), std::string::npos) << server.error();
  EXPECT_EQ(recorder.requests.size(), 1u);
}

TEST(H2Connection, Http1BytesAreNoHttp2Preface) {
  Recorder recorder;
  H2Connection server(recorder, {});
  const std::string bytes = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_FALSE(server.receive({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}));
  EXPECT_FALSE(server.error().empty());
}

}  // namespace
}  // namespace wsx::h2
