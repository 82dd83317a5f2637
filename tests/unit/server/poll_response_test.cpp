// The long-polling answers: JSON of the open, error bodies, and the response heads.
#include "server/poll_response.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wsx::server {
namespace {

using namespace std::chrono_literals;

TEST(PollResponse, OpenAnswerIsTheDocumentedJson) {
  EXPECT_EQ(poll_open_json("abc_-", "chat", 25000ms, 60000ms),
            R"({"sid":"abc_-","protocol":"chat","poll":25000,"timeout":60000})");
  EXPECT_EQ(poll_open_json("s", "", 1ms, 2ms), R"({"sid":"s","protocol":"","poll":1,"timeout":2})");
}

TEST(PollResponse, ErrorBodiesEscapeWhatCouldBreakOutOrLookLikeMarkup) {
  EXPECT_EQ(poll_error_json("unknown session"), R"({"error":"unknown session"})");
  EXPECT_EQ(poll_error_json("a\"b\\c\n<script>&"),
            R"({"error":"a\"b\\c\u000a\u003cscript\u003e\u0026"})");
}

TEST(PollResponse, HeadsCarryNoStoreNosniffAndTheFraming) {
  const std::vector<std::uint8_t> body = {0x81, 0x02, 'h', 'i'};
  PollResponse response;
  response.status = 200;
  response.content_type = "application/x-wsx-poll";
  response.offset = 12;
  response.body = body;
  const std::string text = serialize_poll_response(response);
  EXPECT_EQ(text,
            "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
            "Wsx-Offset: 12\r\nConnection: keep-alive\r\nContent-Type: application/x-wsx-poll\r\n"
            "Content-Length: 4\r\n\r\n\x81\x02hi");

  PollResponse none;
  none.status = 204;
  none.offset = 3;
  none.keep_alive = false;
  EXPECT_EQ(serialize_poll_response(none),
            "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\nX-Content-Type-Options: "
            "nosniff\r\nWsx-Offset: 3\r\nConnection: close\r\n\r\n");

  PollResponse refused;
  refused.status = 405;
  const std::string refusal = serialize_poll_response(refused);
  EXPECT_NE(refusal.find("\r\nAllow: GET, POST\r\n"), std::string::npos);
  EXPECT_NE(refusal.find("\r\nContent-Length: 0\r\n"), std::string::npos);
}

}  // namespace
}  // namespace wsx::server
