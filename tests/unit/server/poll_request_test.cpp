// Classification of long-polling requests: the statuses of docs/long-polling-protocol.md.
#include "server/poll_request.hpp"

#include <gtest/gtest.h>

#include <string>

namespace wsx::server {
namespace {

// Parses a head and classifies it with its target's query; the text stays alive with it.
struct Parsed {
  std::string text;
  proto::HttpHeadParser parser{proto::HttpKind::request};

  explicit Parsed(std::string head) : text(std::move(head)) {
    EXPECT_EQ(parser.parse(text.data(), text.size()), proto::HttpParseStatus::complete) << text;
  }
  PollClassification classify(std::size_t max_body = 1000) {
    const std::string_view target = parser.head().target;
    const std::size_t q = target.find('?');
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    return classify_poll_request(parser.head(), query, max_body);
  }
};

std::string head(std::string_view method, std::string_view target, std::string_view headers) {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: a\r\n" +
         std::string(headers) + "\r\n";
}

constexpr std::string_view type = "Content-Type: application/x-wsx-poll\r\n";

TEST(PollRequest, QueryHelpers) {
  EXPECT_TRUE(is_poll_query("wsx-poll=open"));
  EXPECT_TRUE(is_poll_query("csrf=x&wsx-poll=recv&ack=0"));
  EXPECT_FALSE(is_poll_query("x=wsx-poll"));
  EXPECT_FALSE(is_poll_query(""));
  EXPECT_EQ(query_parameter("a=1&b=2", "b"), "2");
  EXPECT_EQ(query_parameter("a", "a"), "");
  EXPECT_EQ(parse_decimal("0"), 0u);
  EXPECT_EQ(parse_decimal("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_decimal("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_decimal("+1"), std::nullopt);
  EXPECT_EQ(parse_decimal(""), std::nullopt);
  EXPECT_EQ(parse_decimal("1 "), std::nullopt);
  EXPECT_TRUE(is_poll_content_type("application/x-wsx-poll"));
  EXPECT_TRUE(is_poll_content_type("Application/X-WSX-Poll; charset=binary"));
  EXPECT_FALSE(is_poll_content_type("text/plain"));
  EXPECT_FALSE(is_poll_content_type("application/x-www-form-urlencoded"));
  EXPECT_FALSE(is_poll_content_type(std::nullopt));
  EXPECT_EQ(poll_body_limit(16), 1024u * 1024);
  EXPECT_EQ(poll_body_limit(4 * 1024 * 1024), 4u * 1024 * 1024 + 14);
  EXPECT_EQ(poll_body_limit(SIZE_MAX), SIZE_MAX);
}

TEST(PollRequest, WellFormedOpenSendRecv) {
  Parsed open(
      head("POST", "/chat?csrf=t&wsx-poll=open", std::string(type) + "Content-Length: 0\r\n"));
  PollClassification c = open.classify();
  ASSERT_TRUE(c.request);
  EXPECT_EQ(c.request->kind, PollKind::open);

  Parsed send(head("POST", "/chat?wsx-poll=send&offset=42",
                   std::string(type) + "Content-Length: 10\r\nWsx-Session: S\r\nWsx-Csrf: T\r\n"));
  c = send.classify();
  ASSERT_TRUE(c.request);
  EXPECT_EQ(c.request->kind, PollKind::send);
  EXPECT_EQ(c.request->position, 42u);
  EXPECT_EQ(c.request->body_size, 10u);
  EXPECT_EQ(c.request->session, "S");
  EXPECT_EQ(c.request->csrf, "T");

  Parsed recv(head("GET", "/chat?ack=7&wsx-poll=recv", "Wsx-Session: S\r\n"));
  c = recv.classify();
  ASSERT_TRUE(c.request);
  EXPECT_EQ(c.request->kind, PollKind::recv);
  EXPECT_EQ(c.request->position, 7u);
  EXPECT_EQ(c.request->csrf, std::nullopt);
}

TEST(PollRequest, RefusalsWithTheirStatuses) {
  const auto status = [](std::string text, std::size_t max_body = 1000) {
    Parsed parsed(std::move(text));
    return parsed.classify(max_body).status;
  };
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=nope", type)), 400);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=open&wsx-poll=open", type)), 400);
  EXPECT_EQ(status(head("GET", "/c?wsx-poll=open", type)), 405);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=recv&ack=0", "")), 405);
  EXPECT_EQ(status(head("GET", "/c?wsx-poll=send&offset=0", type)), 405);
  // No HTML form and no simple cross-origin fetch can send the right type.
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=open", "")), 415);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=open", "Content-Type: text/plain\r\n")), 415);
  EXPECT_EQ(
      status(head("POST", "/c?wsx-poll=send&offset=0",
                  "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1\r\n")),
      415);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send&offset=0",
                        std::string(type) + "Content-Length: 1001\r\n")),
            413);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send&offset=0",
                        std::string(type) + "Content-Length: 1000\r\n")),
            0);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send&offset=0", type)), 411);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send&offset=0",
                        std::string(type) + "Transfer-Encoding: chunked\r\n")),
            411);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send&offset=0",
                        std::string(type) + "Content-Length: 5\r\nContent-Length: 6\r\n")),
            400);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send&offset=0",
                        std::string(type) + "Content-Length: 5, 5\r\n")),
            0);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send&offset=0",
                        std::string(type) + "Content-Length: -5\r\n")),
            400);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send&offset=x",
                        std::string(type) + "Content-Length: 5\r\n")),
            400);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=send", std::string(type) + "Content-Length: 5\r\n")),
            400);
  EXPECT_EQ(status(head("GET", "/c?wsx-poll=recv", "")), 400);
  EXPECT_EQ(status(head("GET", "/c?wsx-poll=recv&ack=1&ack=2", "")), 400);
  EXPECT_EQ(status(head("GET", "/c?wsx-poll=recv&ack=1", "Content-Length: 3\r\n")), 400);
  EXPECT_EQ(status(head("POST", "/c?wsx-poll=open", std::string(type) + "Content-Length: 3\r\n")),
            400);
  EXPECT_EQ(status(head("GET", "/c?wsx-poll=recv&ack=1", "Wsx-Session: a\r\nWsx-Session: b\r\n")),
            400);
}

}  // namespace
}  // namespace wsx::server
