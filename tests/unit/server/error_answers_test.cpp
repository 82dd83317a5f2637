// Every refusal the server writes instead of a 101, over HTTP/1.1, one bad request each: the
// answer's body is declared (Content-Type: text/plain; charset=utf-8, the reasons quote RFC
// sections with "§") and its Content-Length is its size, so that nothing is left to a
// browser's sniffing or to the connection's end.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "http_test_client.hpp"
#include "running_server.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::HttpAnswer;
using test::HttpTestClient;
using test::RunningServer;

struct BadRequest {
  const char* what;
  std::string request;
  int status;
};

const std::vector<std::string> valid_lines = {
    "GET / HTTP/1.1",
    "Host: x",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
};

// The valid request with its line `line` (0: the request line) replaced, or dropped when
// `replacement` is empty, and `extra` header lines added.
std::string request_with(std::size_t line, const std::string& replacement,
                         const std::string& extra = {}) {
  std::string request;
  for (std::size_t i = 0; i < valid_lines.size(); ++i) {
    const std::string& text = i == line ? replacement : valid_lines[i];
    if (!text.empty()) request += text + "\r\n";
  }
  return request + extra + "\r\n";
}

std::string request_adding(const std::string& extra) {
  return request_with(valid_lines.size(), {}, extra);
}

std::vector<BadRequest> bad_requests() {
  return {
      {"POST", request_with(0, "POST / HTTP/1.1"), 400},
      {"HTTP/1.0", request_with(0, "GET / HTTP/1.0"), 400},
      {"no Host", request_with(1, ""), 400},
      {"no Upgrade", request_with(2, ""), 426},
      {"Connection without upgrade", request_with(3, "Connection: keep-alive"), 400},
      {"no key", request_with(4, ""), 400},
      {"short key", request_with(4, "Sec-WebSocket-Key: c2hvcnQ="), 400},
      {"no version", request_with(5, ""), 426},
      {"version 8", request_with(5, "Sec-WebSocket-Version: 8"), 426},
      {"bad extensions", request_adding("Sec-WebSocket-Extensions: ;;\r\n"), 400},
      {"repeated subprotocol", request_adding("Sec-WebSocket-Protocol: a, a\r\n"), 400},
      {"repeated Origin", request_adding("Origin: http://x\r\nOrigin: http://x\r\n"), 400},
      {"bad target", request_with(0, "GET nope HTTP/1.1"), 400},
      {"no route", request_with(0, "GET /nowhere HTTP/1.1"), 404},
      {"origin not allowed", request_adding("Origin: http://elsewhere.example\r\n"), 403},
      {"refused by the application", request_with(0, "GET /refused HTTP/1.1"), 403},
      {"malformed request line", "GET\r\n\r\n", 400},
      {"head too large", request_adding("X-Big: " + std::string(10000, 'b') + "\r\n"), 431},
  };
}

TEST(ErrorAnswers, EveryRefusalDeclaresItsBodyAsUtf8TextWithItsLength) {
  Server server({.threads = 1, .max_head_size = 8192});
  server.route("/", {});
  // An application's refusal with a body and no headers gets the same declaration.
  server.route("/refused", {.upgrade = [](const UpgradeRequest&) {
                 return UpgradeDecision::reject(403, "not here \xC2\xA7 1\n");
               }});
  RunningServer running(server);
  for (const BadRequest& bad : bad_requests()) {
    SCOPED_TRACE(bad.what);
    HttpTestClient client(running.port());
    ASSERT_TRUE(client.connected());
    const std::optional<HttpAnswer> answer = client.request(bad.request);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, bad.status) << answer->head;
    EXPECT_FALSE(answer->body.empty()) << answer->head;
    EXPECT_EQ(answer->header("Content-Type"), proto::plain_text_content_type) << answer->head;
    // read_answer() took Content-Length bytes: the server must then close with nothing more.
    EXPECT_EQ(answer->header("Content-Length"), std::to_string(answer->body.size()));
    EXPECT_TRUE(client.closed_by_server(5s)) << "more bytes than Content-Length said";
  }
}

// The reasons are UTF-8, not ASCII: the charset is needed.
TEST(ErrorAnswers, TheServersReasonsQuoteRfcSections) {
  Server server({.threads = 1});
  server.route("/", {});
  RunningServer running(server);
  HttpTestClient client(running.port());
  const std::optional<HttpAnswer> answer = client.request(request_with(5, ""));
  ASSERT_TRUE(answer);
  EXPECT_NE(answer->body.find("\xC2\xA7"), std::string::npos) << answer->body;
}

// A body the application typed keeps its type; one without a body gets none.
TEST(ErrorAnswers, ATypeGivenIsKeptAndNoBodyMeansNoType) {
  proto::HttpResponse typed;
  typed.status = 403;
  typed.headers = {{"Content-Type", "application/json"}};
  typed.body = "{}";
  const std::string typed_bytes = proto::serialize(typed);
  EXPECT_NE(typed_bytes.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_EQ(typed_bytes.find("text/plain"), std::string::npos) << typed_bytes;
  proto::HttpResponse empty;
  empty.status = 403;
  EXPECT_EQ(proto::serialize(empty).find("Content-Type"), std::string::npos);
}

}  // namespace
}  // namespace wsx
