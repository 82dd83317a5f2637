#include "wsx/proto/http_head.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace wsx::proto {
namespace {

const std::string kRequest =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

// The head's views point into the text, so the result keeps its own heap copy of it.
struct Parsed {
  std::shared_ptr<const std::string> text;
  HttpParseStatus status;
  HttpError error;
  HttpHead head;
  std::size_t head_size;
};

Parsed parse(HttpKind kind, const std::string& text, HttpLimits limits = {}) {
  auto copy = std::make_shared<const std::string>(text);
  HttpHeadParser parser(kind, limits);
  const HttpParseStatus status = parser.parse(copy->data(), copy->size());
  return {copy, status, parser.error(), parser.head(), parser.head_size()};
}

HttpError request_error(const std::string& text, HttpLimits limits = {}) {
  return parse(HttpKind::request, text, limits).error;
}

HttpError response_error(const std::string& text) {
  return parse(HttpKind::response, text).error;
}

// Feeds `text` growing one byte at a time, as a socket trickling bytes would.
HttpParseStatus feed_bytewise(HttpHeadParser& parser, const std::string& text) {
  HttpParseStatus status = HttpParseStatus::need_more;
  for (std::size_t n = 1; n <= text.size() && status == HttpParseStatus::need_more; ++n) {
    status = parser.parse(text.data(), n);
  }
  return status;
}

// A request of exactly `size` bytes, padded with one long header.
std::string request_of_size(std::size_t size) {
  const std::string start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(size - start.size() - end.size(), 'a') + end;
}

TEST(HttpHeadParser, ParsesARequest) {
  const Parsed p = parse(HttpKind::request, kRequest);
  ASSERT_EQ(p.status, HttpParseStatus::complete);
  EXPECT_EQ(p.error, HttpError::none);
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.target, "/chat?room=1");
  EXPECT_EQ(p.head.version_major, 1);
  EXPECT_EQ(p.head.version_minor, 1);
  ASSERT_EQ(p.head.headers.size(), 5u);
  EXPECT_EQ(p.head.headers[0].name, "Host");
  EXPECT_EQ(p.head.headers[0].value, "example.com");
  EXPECT_EQ(p.head_size, kRequest.size());
}

TEST(HttpHeadParser, ParsesAResponse) {
  const std::string text =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  const Parsed p = parse(HttpKind::response, text);
  ASSERT_EQ(p.status, HttpParseStatus::complete);
  EXPECT_EQ(p.head.status, 101);
  EXPECT_EQ(p.head.reason, "Switching Protocols");
  EXPECT_EQ(p.head.headers.size(), 2u);
}

TEST(HttpHeadParser, BytesAfterTheHeadAreNotPartOfIt) {
  const std::string text = kRequest + "\x81\x05hello\r\n\r\n";
  const Parsed p = parse(HttpKind::request, text);
  ASSERT_EQ(p.status, HttpParseStatus::complete);
  EXPECT_EQ(p.head_size, kRequest.size());
}

TEST(HttpHeadParser, NeedsMoreUntilTheBlankLine) {
  HttpHeadParser parser(HttpKind::request);
  const std::string partial = kRequest.substr(0, kRequest.size() - 1);
  EXPECT_EQ(parser.parse(partial.data(), partial.size()), HttpParseStatus::need_more);
  EXPECT_EQ(parser.error(), HttpError::none);
  EXPECT_EQ(parser.parse(kRequest.data(), kRequest.size()), HttpParseStatus::complete);
}

TEST(HttpHeadParser, ByteByByteEqualsOneShot) {
  HttpHeadParser parser(HttpKind::request);
  ASSERT_EQ(feed_bytewise(parser, kRequest), HttpParseStatus::complete);
  const Parsed whole = parse(HttpKind::request, kRequest);
  EXPECT_EQ(parser.head_size(), whole.head_size);
  ASSERT_EQ(parser.head().headers.size(), whole.head.headers.size());
  for (std::size_t i = 0; i < whole.head.headers.size(); ++i) {
    EXPECT_EQ(parser.head().headers[i].name, whole.head.headers[i].name);
    EXPECT_EQ(parser.head().headers[i].value, whole.head.headers[i].value);
  }
}

TEST(HttpHeadParser, TerminatorStraddlingEveryBoundaryIsFound) {
  // Cut the buffer at every point inside the final CRLFCRLF and around it.
  for (std::size_t cut = kRequest.size() - 6; cut < kRequest.size(); ++cut) {
    HttpHeadParser parser(HttpKind::request);
    EXPECT_EQ(parser.parse(kRequest.data(), cut), HttpParseStatus::need_more) << cut;
    EXPECT_EQ(parser.parse(kRequest.data(), kRequest.size()), HttpParseStatus::complete) << cut;
    EXPECT_EQ(parser.head_size(), kRequest.size());
  }
}

TEST(HttpHeadParser, EachCallResumesWhereTheLastOneStopped) {
  // The work of a call is (bytes now) - (bytes scanned before) + 1, so a head trickling in one
  // byte at a time costs linear time in total.
  const std::string text = request_of_size(HttpLimits{}.max_head_size);
  HttpHeadParser parser(HttpKind::request);
  std::size_t total_work = 0;
  HttpParseStatus status = HttpParseStatus::need_more;
  for (std::size_t n = 1; n <= text.size() && status == HttpParseStatus::need_more; ++n) {
    const std::size_t before = parser.scanned();
    status = parser.parse(text.data(), n);
    EXPECT_EQ(parser.scanned(), n);
    total_work += n - before + 1;
  }
  EXPECT_EQ(status, HttpParseStatus::complete);
  EXPECT_LE(total_work, 2 * text.size());
}

TEST(HttpHeadParser, MaxSizeHeadDeliveredByteByByteCompletes) {
  // The parser resumes where it stopped, so this is 8192 short scans, not 8192 full rescans.
  const std::string text = request_of_size(HttpLimits{}.max_head_size);
  HttpHeadParser parser(HttpKind::request);
  ASSERT_EQ(feed_bytewise(parser, text), HttpParseStatus::complete);
  EXPECT_EQ(parser.head_size(), text.size());
  EXPECT_EQ(parser.head().header("X-Pad")->size(),
            text.size() - 36);  // 32 bytes before it, 4 after
}

TEST(HttpHeadParser, HeadOneByteOverTheLimitIsTooLarge) {
  HttpLimits limits;
  limits.max_head_size = 100;
  EXPECT_EQ(parse(HttpKind::request, request_of_size(100), limits).status,
            HttpParseStatus::complete);
  EXPECT_EQ(request_error(request_of_size(101), limits), HttpError::head_too_large);
}

TEST(HttpHeadParser, TooLargeIsReportedBeforeTheBlankLineArrives) {
  HttpLimits limits;
  limits.max_head_size = 100;
  const std::string text = "GET / HTTP/1.1\r\nX-Pad: " + std::string(200, 'a');
  HttpHeadParser parser(HttpKind::request, limits);
  EXPECT_EQ(parser.parse(text.data(), 99), HttpParseStatus::need_more);
  EXPECT_EQ(parser.parse(text.data(), 100), HttpParseStatus::error);
  EXPECT_EQ(parser.error(), HttpError::head_too_large);
}

TEST(HttpHeadParser, VerdictAtTheSizeLimitDoesNotDependOnChunking) {
  // A CR as the last byte the limit allows, followed by a non-LF: the head cannot fit anyway,
  // so it is too large whether the byte after the CR arrived with it or later.
  HttpLimits limits;
  limits.max_head_size = 32;
  std::string text = "GET / HTTP/1.1\r\nX: " + std::string(12, 'a') + "\rb";
  ASSERT_EQ(text.size(), 33u);
  ASSERT_EQ(text[31], '\r');
  EXPECT_EQ(request_error(text, limits), HttpError::head_too_large);
  HttpHeadParser parser(HttpKind::request, limits);
  EXPECT_EQ(parser.parse(text.data(), 31), HttpParseStatus::need_more);
  EXPECT_EQ(parser.parse(text.data(), 32), HttpParseStatus::error);
  EXPECT_EQ(parser.error(), HttpError::head_too_large);
}

TEST(HttpHeadParser, HeaderCountLimit) {
  HttpLimits limits;
  limits.max_headers = 3;
  const std::string three = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  const std::string four = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
  EXPECT_EQ(parse(HttpKind::request, three, limits).status, HttpParseStatus::complete);
  EXPECT_EQ(request_error(four, limits), HttpError::too_many_headers);
}

TEST(HttpHeadParser, OnlyCrlfEndsALine) {
  EXPECT_EQ(request_error("GET / HTTP/1.1\nHost: h\r\n\r\n"), HttpError::bad_line_ending);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: h\n\n"), HttpError::bad_line_ending);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: h\r\n\n"), HttpError::bad_line_ending);
  EXPECT_EQ(request_error("GET / HTTP/1.1\rHost: h\r\n\r\n"), HttpError::bad_line_ending);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), HttpError::bad_line_ending);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\r\n\r\n"), HttpError::bad_line_ending);
  EXPECT_EQ(request_error("\n"), HttpError::bad_line_ending);
}

TEST(HttpHeadParser, BareCrIsJudgedWhenItsSuccessorArrives) {
  const std::string text = "GET / HTTP/1.1\r";
  HttpHeadParser parser(HttpKind::request);
  EXPECT_EQ(parser.parse(text.data(), text.size()), HttpParseStatus::need_more);
  const std::string bad = text + "X";
  EXPECT_EQ(parser.parse(bad.data(), bad.size()), HttpParseStatus::error);
  EXPECT_EQ(parser.error(), HttpError::bad_line_ending);
}

TEST(HttpHeadParser, BareLfIsCaughtBeforeTheHeadEnds) {
  HttpHeadParser parser(HttpKind::request);
  const std::string text = "GET / HTTP/1.1\nHost: h";
  EXPECT_EQ(parser.parse(text.data(), text.size()), HttpParseStatus::error);
  EXPECT_EQ(parser.error(), HttpError::bad_line_ending);
}

TEST(HttpHeadParser, RequestLineGrammar) {
  EXPECT_EQ(request_error("GET  / HTTP/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("GET / HTTP/1.1 \r\n\r\n"), HttpError::unsupported_version);
  EXPECT_EQ(request_error("GET /\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("GET\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("GET\t/ HTTP/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error(" GET / HTTP/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("G(T / HTTP/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("GET /a b HTTP/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("GET /\xC3\xA9 HTTP/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("GET /\x01 HTTP/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("GET / http/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("\r\nGET / HTTP/1.1\r\n\r\n"), HttpError::bad_request_line);
  EXPECT_EQ(request_error("\r\n\r\n"), HttpError::bad_request_line);
}

TEST(HttpHeadParser, OnlyHttp1IsSupported) {
  EXPECT_EQ(request_error("GET / HTTP/2.0\r\n\r\n"), HttpError::unsupported_version);
  EXPECT_EQ(request_error("GET / HTTP/2\r\n\r\n"), HttpError::unsupported_version);
  EXPECT_EQ(request_error("GET / HTTP/0.9\r\n\r\n"), HttpError::unsupported_version);
  EXPECT_EQ(request_error("GET / HTTP/1.10\r\n\r\n"), HttpError::unsupported_version);
  EXPECT_EQ(request_error("GET / HTTP/1.x\r\n\r\n"), HttpError::unsupported_version);
  const Parsed p = parse(HttpKind::request, "GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(p.status, HttpParseStatus::complete);
  EXPECT_EQ(p.head.version_minor, 0);
  EXPECT_EQ(parse(HttpKind::request, "GET / HTTP/1.9\r\n\r\n").head.version_minor, 9);
}

TEST(HttpHeadParser, StatusLineGrammar) {
  EXPECT_EQ(parse(HttpKind::response, "HTTP/1.1 101\r\n\r\n").head.status, 101);
  const Parsed empty_reason = parse(HttpKind::response, "HTTP/1.1 404 \r\n\r\n");
  EXPECT_EQ(empty_reason.head.status, 404);
  EXPECT_EQ(empty_reason.head.reason, "");
  EXPECT_EQ(parse(HttpKind::response, "HTTP/1.1 200 Ok \xC3\xA9\tyes\r\n\r\n").head.reason,
            "Ok \xC3\xA9\tyes");
  EXPECT_EQ(response_error("HTTP/1.1 1011 x\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("HTTP/1.1 10 x\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("HTTP/1.1 099 x\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("HTTP/1.1 600 x\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("HTTP/1.1 2x0 OK\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("HTTP/1.1 200 O\x7FK\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("HTTP/1.1  200 OK\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("ICY 200 OK\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("HTTP/1.1\r\n\r\n"), HttpError::bad_status_line);
  EXPECT_EQ(response_error("HTTP/2 200 OK\r\n\r\n"), HttpError::unsupported_version);
  EXPECT_EQ(response_error("HTTP/2\r\n\r\n"), HttpError::unsupported_version);
  EXPECT_EQ(response_error("GET / HTTP/1.1\r\n\r\n"), HttpError::bad_status_line);
}

TEST(HttpHeadParser, FieldLineGrammar) {
  const std::string start = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(request_error(start + "Host : h\r\n\r\n"), HttpError::bad_header);
  EXPECT_EQ(request_error(start + "Host\t: h\r\n\r\n"), HttpError::bad_header);
  EXPECT_EQ(request_error(start + " Host: h\r\n\r\n"), HttpError::bad_header);
  EXPECT_EQ(request_error(start + "X: a\r\n b\r\n\r\n"), HttpError::bad_header);   // obs-fold
  EXPECT_EQ(request_error(start + "X: a\r\n\tb\r\n\r\n"), HttpError::bad_header);  // obs-fold
  EXPECT_EQ(request_error(start + "NoColon\r\n\r\n"), HttpError::bad_header);
  EXPECT_EQ(request_error(start + ": empty name\r\n\r\n"), HttpError::bad_header);
  EXPECT_EQ(request_error(start + "Na(me: v\r\n\r\n"), HttpError::bad_header);
  EXPECT_EQ(request_error(start + "N\xC3\xA9: v\r\n\r\n"), HttpError::bad_header);
  EXPECT_EQ(request_error(start + "X: a" + std::string(1, '\0') + "b\r\n\r\n"),
            HttpError::bad_header);
  EXPECT_EQ(request_error(start + "X: a\x7F\r\n\r\n"), HttpError::bad_header);
  EXPECT_EQ(request_error(start + "X: a\x1B[0m\r\n\r\n"), HttpError::bad_header);
}

TEST(HttpHeadParser, FieldValuesAreTrimmedOfOws) {
  const Parsed p = parse(HttpKind::request,
                         "GET / HTTP/1.1\r\nA: \t spaced out \t\r\nB:\r\nC:x\r\nD: a\tb "
                         "\xC3\xA9\r\nE:   \r\n\r\n");
  ASSERT_EQ(p.status, HttpParseStatus::complete);
  EXPECT_EQ(*p.head.header("A"), "spaced out");
  EXPECT_EQ(*p.head.header("B"), "");
  EXPECT_EQ(*p.head.header("C"), "x");
  EXPECT_EQ(*p.head.header("D"), "a\tb \xC3\xA9");
  EXPECT_EQ(*p.head.header("E"), "");
}

TEST(HttpHeadParser, ErrorAndCompletionAreSticky) {
  HttpHeadParser parser(HttpKind::request);
  const std::string bad = "GET / HTTP/1.1\nX";
  EXPECT_EQ(parser.parse(bad.data(), bad.size()), HttpParseStatus::error);
  EXPECT_EQ(parser.parse(kRequest.data(), kRequest.size()), HttpParseStatus::error);
  parser.reset();
  EXPECT_EQ(parser.error(), HttpError::none);
  EXPECT_EQ(parser.parse(kRequest.data(), kRequest.size()), HttpParseStatus::complete);
  const std::string more = kRequest + "garbage\n";
  EXPECT_EQ(parser.parse(more.data(), more.size()), HttpParseStatus::complete);
  EXPECT_EQ(parser.head_size(), kRequest.size());
}

TEST(HttpHeadParser, EmptyBufferNeedsMore) {
  HttpHeadParser parser(HttpKind::response);
  EXPECT_EQ(parser.parse(nullptr, 0), HttpParseStatus::need_more);
}

TEST(HttpHead, LookupIsCaseInsensitive) {
  const Parsed p = parse(HttpKind::request, kRequest);
  EXPECT_EQ(p.head.header("host"), "example.com");
  EXPECT_EQ(p.head.header("SEC-WEBSOCKET-VERSION"), "13");
  EXPECT_FALSE(p.head.header("Origin").has_value());
  EXPECT_EQ(p.head.count("HOST"), 1u);
  EXPECT_EQ(p.head.count("Origin"), 0u);
}

TEST(HttpHead, RepeatedHeaders) {
  const Parsed p = parse(HttpKind::request,
                         "GET / HTTP/1.1\r\nConnection: keep-alive\r\nX: 1\r\nconnection: "
                         "Upgrade\r\nConnection:\r\n\r\n");
  ASSERT_EQ(p.status, HttpParseStatus::complete);
  EXPECT_EQ(p.head.count("Connection"), 3u);
  EXPECT_EQ(p.head.header("Connection"), "keep-alive");
  EXPECT_EQ(p.head.combined("Connection"), "keep-alive, Upgrade, ");
  EXPECT_EQ(p.head.combined("Missing"), "");
  EXPECT_TRUE(p.head.has_token("Connection", "upgrade"));
  EXPECT_TRUE(p.head.has_token("connection", "KEEP-ALIVE"));
  EXPECT_FALSE(p.head.has_token("Connection", "close"));
  EXPECT_FALSE(p.head.has_token("X", "upgrade"));
}

TEST(HttpHead, HasTokenMatchesWholeElementsOnly) {
  const Parsed p = parse(HttpKind::request,
                         "GET / HTTP/1.1\r\nConnection: upgrades, x-upgrade,,  up grade \r\n\r\n");
  EXPECT_FALSE(p.head.has_token("Connection", "upgrade"));
  EXPECT_TRUE(p.head.has_token("Connection", "upgrades"));
  EXPECT_TRUE(p.head.has_token("Connection", "up grade"));
  EXPECT_FALSE(p.head.has_token("Connection", ""));
}

TEST(SplitList, TrimsAndSkipsEmptyElements) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(split_list("a, b ,c"), (V{"a", "b", "c"}));
  EXPECT_EQ(split_list(" , ,a,,\t,b, "), (V{"a", "b"}));
  EXPECT_EQ(split_list(""), V{});
  EXPECT_EQ(split_list(",,,"), V{});
  EXPECT_EQ(split_list("one"), V{"one"});
  EXPECT_EQ(split_list("a b, c"), (V{"a b", "c"}));
}

TEST(Iequals, AsciiCaseInsensitive) {
  EXPECT_TRUE(iequals("WebSocket", "websocket"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("websocket", "websockets"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("\xC3\xA9", "\xC3\x89"));  // only ASCII letters fold
  EXPECT_FALSE(iequals("[", "{"));                // 0x5B vs 0x7B: not letters
}

TEST(IsToken, Rfc9110Tchar) {
  EXPECT_TRUE(is_token("permessage-deflate"));
  EXPECT_TRUE(is_token("!#$%&'*+-.^_`|~09azAZ"));
  EXPECT_FALSE(is_token(""));
  for (const char c : std::string("\"(),/:;<=>?@[\\]{} \t\x7F\x01")) {
    EXPECT_FALSE(is_token(std::string("a") + c)) << int(c);
  }
  EXPECT_FALSE(is_token("\xC3\xA9"));
}

TEST(Describe, EveryHttpErrorHasAMessage) {
  for (int e = 0; e <= static_cast<int>(HttpError::unsupported_version); ++e) {
    EXPECT_FALSE(describe(static_cast<HttpError>(e)).empty());
  }
  EXPECT_NE(describe(HttpError::bad_line_ending).find("CRLF"), std::string_view::npos);
}

}  // namespace
}  // namespace wsx::proto
