#include <gtest/gtest.h>

#include <algorithm>

#include "parsed_head.hpp"
#include "wsx/proto/handshake.hpp"

namespace wsx::proto {
namespace {

using testing::parse_request;
using testing::parse_response;
using testing::ParsedHead;

// RFC 6455 §1.2's example request, with the lines in a vector so each test can edit one.
std::vector<std::string> example_lines() {
  return {"GET /chat HTTP/1.1",
          "Host: server.example.com",
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Origin: http://example.com",
          "Sec-WebSocket-Protocol: chat, superchat",
          "Sec-WebSocket-Version: 13"};
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\r\n";
  return out + "\r\n";
}

// The example with the line starting with `prefix` replaced by `replacement` (or removed).
std::string edited(const std::string& prefix, std::optional<std::string> replacement) {
  std::vector<std::string> lines = example_lines();
  const auto it = std::find_if(lines.begin(), lines.end(),
                               [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
  EXPECT_NE(it, lines.end()) << prefix;
  if (replacement) {
    *it = *replacement;
  } else {
    lines.erase(it);
  }
  return join(lines);
}

std::string with_extra(const std::string& line) {
  std::vector<std::string> lines = example_lines();
  lines.push_back(line);
  return join(lines);
}

struct Checked {
  ParsedHead parsed;  // keeps the text the request's views point into
  UpgradeCheck check;
};

Checked check(const std::string& text) {
  Checked c{parse_request(text), {}};
  EXPECT_EQ(c.parsed.status, HttpParseStatus::complete) << text;
  c.check = check_upgrade_request(c.parsed.head);
  EXPECT_EQ(c.check.request.has_value(), c.check.error == UpgradeError::none);
  return c;
}

UpgradeError error_of(const std::string& text) {
  return check(text).check.error;
}

TEST(CheckUpgradeRequest, AcceptsTheRfcExample) {
  const Checked c = check(join(example_lines()));
  ASSERT_EQ(c.check.error, UpgradeError::none);
  const UpgradeRequest& r = *c.check.request;
  EXPECT_EQ(r.head, &c.parsed.head);
  EXPECT_EQ(r.target, "/chat");
  EXPECT_EQ(r.path, "/chat");
  EXPECT_EQ(r.query, "");
  EXPECT_EQ(r.host, "server.example.com");
  EXPECT_EQ(r.origin, "http://example.com");
  EXPECT_EQ(r.key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(r.subprotocols, (std::vector<std::string_view>{"chat", "superchat"}));
  EXPECT_TRUE(r.extensions.empty());
}

TEST(CheckUpgradeRequest, MethodMustBeGet) {
  const Checked c = check(edited("GET", "POST /chat HTTP/1.1"));
  EXPECT_EQ(c.check.error, UpgradeError::method_not_get);
  EXPECT_EQ(c.check.rejection.status, 400);
  EXPECT_EQ(c.check.rejection.headers, (HeaderList{{"Allow", "GET"}}));
  EXPECT_EQ(error_of(edited("GET", "get /chat HTTP/1.1")), UpgradeError::method_not_get);
}

TEST(CheckUpgradeRequest, PlainHttpToAWebSocketRouteGets426) {
  for (const auto& text :
       {edited("Upgrade", std::nullopt), edited("Upgrade", "Upgrade: h2c"),
        edited("Upgrade", "Upgrade: websockets"), join({"GET / HTTP/1.1", "Host: a"})}) {
    const Checked c = check(text);
    EXPECT_EQ(c.check.error, UpgradeError::missing_upgrade_websocket);
    EXPECT_EQ(c.check.rejection.status, 426);
    EXPECT_EQ(c.check.rejection.headers, (HeaderList{{"Upgrade", "websocket"},
                                                     {"Connection", "Upgrade"},
                                                     {"Sec-WebSocket-Version", "13"}}));
  }
  EXPECT_EQ(error_of(edited("Upgrade", "Upgrade: WebSocket")), UpgradeError::none);
  EXPECT_EQ(error_of(edited("Upgrade", "Upgrade: h2c, websocket")), UpgradeError::none);
  EXPECT_EQ(error_of(edited("Upgrade", "Upgrade: h2c\r\nUpgrade: websocket")), UpgradeError::none);
}

TEST(CheckUpgradeRequest, NeedsHttp11) {
  const Checked c = check(edited("GET", "GET /chat HTTP/1.0"));
  EXPECT_EQ(c.check.error, UpgradeError::http_version_too_old);
  EXPECT_EQ(c.check.rejection.status, 400);
  EXPECT_EQ(error_of(edited("GET", "GET /chat HTTP/1.2")), UpgradeError::none);
}

TEST(CheckUpgradeRequest, NeedsExactlyOneNonEmptyHost) {
  EXPECT_EQ(error_of(edited("Host", std::nullopt)), UpgradeError::missing_host);
  EXPECT_EQ(error_of(edited("Host", "Host:")), UpgradeError::missing_host);
  EXPECT_EQ(error_of(with_extra("host: other.example.com")), UpgradeError::missing_host);
  EXPECT_EQ(check(edited("Host", std::nullopt)).check.rejection.status, 400);
  for (const char* bad :
       {"Host: a b", "Host: user@h", "Host: h:80x", "Host: :80", "Host: [::1", "Host: []",
        "Host: [::1]x", "Host: h/p", "Host: h\xC3\xA9", "Host: \"h\""}) {
    EXPECT_EQ(error_of(edited("Host", std::string(bad))), UpgradeError::missing_host) << bad;
  }
  for (const char* good :
       {"Host: h", "Host: h:", "Host: h:8080", "Host: 192.0.2.1:80", "Host: [::1]",
        "Host: [2001:db8::1]:9001", "Host: xn--bcher-kva.example", "Host: a%20b"}) {
    EXPECT_EQ(error_of(edited("Host", std::string(good))), UpgradeError::none) << good;
  }
}

TEST(CheckUpgradeRequest, ConnectionMustIncludeUpgrade) {
  EXPECT_EQ(error_of(edited("Connection", std::nullopt)), UpgradeError::missing_connection_upgrade);
  EXPECT_EQ(error_of(edited("Connection", "Connection: keep-alive")),
            UpgradeError::missing_connection_upgrade);
  EXPECT_EQ(error_of(edited("Connection", "Connection: upgraded")),
            UpgradeError::missing_connection_upgrade);
  EXPECT_EQ(error_of(edited("Connection", "Connection: keep-alive, UPGRADE")), UpgradeError::none);
  EXPECT_EQ(error_of(edited("Connection", "Connection: keep-alive\r\nConnection: upgrade")),
            UpgradeError::none);
}

TEST(CheckUpgradeRequest, KeyMustBeOneBase64ValueOf16Bytes) {
  EXPECT_EQ(error_of(edited("Sec-WebSocket-Key", std::nullopt)), UpgradeError::missing_key);
  EXPECT_EQ(error_of(with_extra("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")),
            UpgradeError::bad_key);
  for (const char* bad : {
           "Sec-WebSocket-Key:",
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",     // padding missing
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=",    // half the padding
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===",  // too much padding
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAB",   // 18 bytes
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==AAAA",
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j",      // 15 bytes
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ.==",  // not the alphabet
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ-==",  // URL-safe alphabet
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSB ub25jZQ==",
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==",
       }) {
    const Checked c = check(edited("Sec-WebSocket-Key", std::string(bad)));
    EXPECT_EQ(c.check.error, UpgradeError::bad_key) << bad;
    EXPECT_EQ(c.check.rejection.status, 400);
  }
  // Surrounding whitespace is not part of the value.
  EXPECT_EQ(error_of(edited("Sec-WebSocket-Key", "Sec-WebSocket-Key: \tAAAAAAAAAAAAAAAAAAAAAA== ")),
            UpgradeError::none);
}

TEST(CheckUpgradeRequest, VersionMustBe13ElseUpgradeRequired) {
  const Checked missing = check(edited("Sec-WebSocket-Version", std::nullopt));
  EXPECT_EQ(missing.check.error, UpgradeError::missing_version);
  EXPECT_EQ(missing.check.rejection.status, 426);
  for (const char* bad :
       {"Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 013", "Sec-WebSocket-Version: 13, 8",
        "Sec-WebSocket-Version:", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13"}) {
    const Checked c = check(edited("Sec-WebSocket-Version", std::string(bad)));
    EXPECT_EQ(c.check.error, UpgradeError::unsupported_version) << bad;
    EXPECT_EQ(c.check.rejection.status, 426);
    const HeaderList& h = c.check.rejection.headers;
    EXPECT_NE(std::find(h.begin(), h.end(),
                        std::pair<std::string, std::string>("Sec-WebSocket-Version", "13")),
              h.end());
  }
}

TEST(CheckUpgradeRequest, OriginIsOptionalButNotRepeated) {
  const Checked without = check(edited("Origin", std::nullopt));
  ASSERT_EQ(without.check.error, UpgradeError::none);
  EXPECT_FALSE(without.check.request->origin.has_value());
  EXPECT_EQ(error_of(with_extra("Origin: http://evil.example")), UpgradeError::repeated_origin);
}

TEST(CheckUpgradeRequest, OriginFormTargetIsSplit) {
  const Checked c = check(edited("GET", "GET /a/b?x=1&y=?2 HTTP/1.1"));
  ASSERT_EQ(c.check.error, UpgradeError::none);
  EXPECT_EQ(c.check.request->target, "/a/b?x=1&y=?2");
  EXPECT_EQ(c.check.request->path, "/a/b");
  EXPECT_EQ(c.check.request->query, "x=1&y=?2");
  const Checked q = check(edited("GET", "GET /? HTTP/1.1"));
  EXPECT_EQ(q.check.request->path, "/");
  EXPECT_EQ(q.check.request->query, "");
}

TEST(CheckUpgradeRequest, AbsoluteFormTargetGivesPathAndHost) {
  const Checked c = check(edited("GET", "GET wss://Proxy.Example:8443/chat?x=1 HTTP/1.1"));
  ASSERT_EQ(c.check.error, UpgradeError::none);
  EXPECT_EQ(c.check.request->target, "/chat?x=1");
  EXPECT_EQ(c.check.request->path, "/chat");
  EXPECT_EQ(c.check.request->query, "x=1");
  EXPECT_EQ(c.check.request->host, "Proxy.Example:8443");  // RFC 9112 §3.2.2: not the Host header
  const Checked no_path = check(edited("GET", "GET HTTP://server.example.com HTTP/1.1"));
  ASSERT_EQ(no_path.check.error, UpgradeError::none);
  EXPECT_EQ(no_path.check.request->path, "/");
  EXPECT_EQ(no_path.check.request->target, "/");
  const Checked query_only = check(edited("GET", "GET ws://h?q HTTP/1.1"));
  EXPECT_EQ(query_only.check.request->path, "/");
  EXPECT_EQ(query_only.check.request->query, "q");
}

TEST(CheckUpgradeRequest, OtherTargetFormsAreRejected) {
  for (const char* target : {"*", "server.example.com:80", "chat", "ftp://h/chat", "ws:/chat",
                             "ws://", "ws:///chat", "ws://user@h/chat", "http://user:pw@h/",
                             "ws://h:x/", "ws://[::1/", "/chat#frag", "ws://h/chat#frag"}) {
    const Checked c = check(edited("GET", "GET " + std::string(target) + " HTTP/1.1"));
    EXPECT_EQ(c.check.error, UpgradeError::bad_target) << target;
    EXPECT_EQ(c.check.rejection.status, 400);
  }
}

TEST(CheckUpgradeRequest, SubprotocolsAreDistinctTokensOverRepeatedHeaders) {
  const Checked c = check(with_extra("Sec-WebSocket-Protocol: v2.chat,, mqtt"));
  ASSERT_EQ(c.check.error, UpgradeError::none);
  EXPECT_EQ(c.check.request->subprotocols,
            (std::vector<std::string_view>{"chat", "superchat", "v2.chat", "mqtt"}));
  for (const char* bad : {"Sec-WebSocket-Protocol: a b", "Sec-WebSocket-Protocol: a/b",
                          "Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: ,",
                          "Sec-WebSocket-Protocol: \"chat\"", "Sec-WebSocket-Protocol: chat, chat",
                          "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat"}) {
    EXPECT_EQ(error_of(edited("Sec-WebSocket-Protocol", std::string(bad))),
              UpgradeError::bad_protocols)
        << bad;
  }
}

TEST(CheckUpgradeRequest, ExtensionsAreParsedAcrossRepeatedHeaders) {
  const Checked c =
      check(with_extra("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                       "Sec-WebSocket-Extensions: x-foo; a=\"1\""));
  ASSERT_EQ(c.check.error, UpgradeError::none);
  const auto& ext = c.check.request->extensions;
  ASSERT_EQ(ext.size(), 2u);
  EXPECT_EQ(ext[0].name, "permessage-deflate");
  EXPECT_EQ(ext[1].params[0].value, "1");
  EXPECT_EQ(error_of(with_extra("Sec-WebSocket-Extensions: permessage-deflate;")),
            UpgradeError::bad_extensions);
  EXPECT_EQ(error_of(with_extra("Sec-WebSocket-Extensions: x; a=\"b c\"")),
            UpgradeError::bad_extensions);
  // An empty header is an empty list: nothing offered, nothing wrong.
  EXPECT_EQ(error_of(with_extra("Sec-WebSocket-Extensions:")), UpgradeError::none);
}

TEST(CheckUpgradeRequest, RejectionBodySaysWhy) {
  const Checked c = check(edited("Sec-WebSocket-Key", std::nullopt));
  EXPECT_EQ(c.check.rejection.body, std::string(describe(UpgradeError::missing_key)) + "\n");
  EXPECT_EQ(serialize(c.check.rejection),
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: " +
                std::to_string(c.check.rejection.body.size()) +
                "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + c.check.rejection.body);
}

TEST(Describe, EveryUpgradeErrorHasAMessage) {
  for (int e = 0; e <= static_cast<int>(UpgradeError::repeated_origin); ++e) {
    EXPECT_FALSE(describe(static_cast<UpgradeError>(e)).empty()) << e;
  }
}

// ---- serialize ----------------------------------------------------------------------------

TEST(Serialize, UpgradeRequiredWithHeaders) {
  HttpResponse r;
  r.status = 426;
  r.headers = {
      {"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"}};
  r.body = "hi";
  EXPECT_EQ(serialize(r),
            "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: "
            "13\r\nConnection: Upgrade, close\r\nContent-Length: 2\r\nContent-Type: text/plain; "
            "charset=utf-8\r\n\r\nhi");
}

TEST(Serialize, StandardAndCustomReasons) {
  HttpResponse r;
  r.status = 403;
  EXPECT_EQ(serialize(r).substr(0, 25), "HTTP/1.1 403 Forbidden\r\nC");
  r.status = 431;
  EXPECT_EQ(serialize(r).rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u);
  r.status = 418;
  EXPECT_EQ(serialize(r).substr(0, 28), "HTTP/1.1 418 Client Error\r\nC");
  r.reason = "I'm a teapot";
  EXPECT_EQ(serialize(r).substr(0, 28), "HTTP/1.1 418 I'm a teapot\r\nC");
  r.reason = "Bad\r\nSet-Cookie: x=1";
  EXPECT_EQ(serialize(r).substr(0, 28), "HTTP/1.1 418 Client Error\r\nC");
}

TEST(Serialize, StatusOutOfRangeBecomes500) {
  HttpResponse r;
  r.status = 99;
  EXPECT_EQ(serialize(r).substr(0, 35), "HTTP/1.1 500 Internal Server Error\r");
  r.status = 1000;
  EXPECT_EQ(serialize(r).substr(0, 13), "HTTP/1.1 500 ");
}

TEST(Serialize, NeverInjectsHeaderLines) {
  HttpResponse r;
  r.status = 400;
  r.headers = {{"X-Ok", "fine"},
               {"X-Evil", "a\r\nSet-Cookie: session=stolen"},
               {"X-Lf", "a\nb"},
               {"X-Nul", std::string("a\0b", 3)},
               {"Bad Name", "v"},
               {"X-Colon:", "v"},
               {"", "v"},
               {"Content-Length", "999"},
               {"Transfer-Encoding", "chunked"},
               {"X-Tab", "a\tb"}};
  EXPECT_EQ(serialize(r),
            "HTTP/1.1 400 Bad Request\r\nX-Ok: fine\r\nX-Tab: a\tb\r\nConnection: "
            "close\r\nContent-Length: 0\r\n\r\n");
}

TEST(Serialize, ConnectionCloseIsNotDuplicated) {
  HttpResponse r;
  r.headers = {{"Connection", "Close"}};
  EXPECT_EQ(serialize(r),
            "HTTP/1.1 400 Bad Request\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n");
}

TEST(Serialize, NoContentForNoContentStatuses) {
  HttpResponse r;
  r.status = 204;
  r.body = "dropped";
  EXPECT_EQ(serialize(r), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  r.status = 304;
  EXPECT_EQ(serialize(r), "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n");
}

TEST(Serialize, OutputParsesBack) {
  HttpResponse r;
  r.status = 503;
  r.headers = {{"Retry-After", "5"}};
  r.body = "busy";
  const std::string text = serialize(r);
  const ParsedHead p = parse_response(text);
  ASSERT_EQ(p.status, HttpParseStatus::complete);
  EXPECT_EQ(p.head.status, 503);
  EXPECT_EQ(p.head.header("Content-Length"), "4");
  EXPECT_EQ(text.substr(p.head_size), "busy");
}

// ---- accept_upgrade -----------------------------------------------------------------------

TEST(AcceptUpgrade, RfcExampleResponse) {
  const Checked c = check(join(example_lines()));
  ASSERT_TRUE(c.check.request.has_value());
  const Accepted a = accept_upgrade(*c.check.request, {});
  EXPECT_EQ(a.response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  EXPECT_FALSE(a.subprotocol.has_value());
  EXPECT_FALSE(a.deflate.has_value());
}

TEST(AcceptUpgrade, SubprotocolIsTheServersFirstPreferenceOffered) {
  const Checked c = check(join(example_lines()));  // offers chat, superchat
  AcceptOptions options;
  options.subprotocols = {"mqtt", "superchat", "chat"};
  const Accepted a = accept_upgrade(*c.check.request, options);
  EXPECT_EQ(a.subprotocol, "superchat");
  EXPECT_NE(a.response.find("\r\nSec-WebSocket-Protocol: superchat\r\n"), std::string::npos);

  options.subprotocols = {"mqtt", "Chat"};  // subprotocol names are case-sensitive
  const Accepted none = accept_upgrade(*c.check.request, options);
  EXPECT_FALSE(none.subprotocol.has_value());
  EXPECT_EQ(none.response.find("Sec-WebSocket-Protocol"), std::string::npos);
}

TEST(AcceptUpgrade, DeflateIsNegotiatedOnlyWhenEnabled) {
  const Checked c = check(
      with_extra("Sec-WebSocket-Extensions: x-foo, permessage-deflate; client_max_window_bits"));
  const Accepted off = accept_upgrade(*c.check.request, {});
  EXPECT_FALSE(off.deflate.has_value());
  EXPECT_EQ(off.response.find("Sec-WebSocket-Extensions"), std::string::npos);

  AcceptOptions options;
  options.deflate = DeflateServerOptions{};
  options.deflate->client_max_window_bits = 12;
  const Accepted on = accept_upgrade(*c.check.request, options);
  ASSERT_TRUE(on.deflate.has_value());
  EXPECT_EQ(on.deflate->client_max_window_bits, 12);
  EXPECT_NE(on.response.find(
                "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12\r\n"),
            std::string::npos);
}

TEST(AcceptUpgrade, DeflateNotOfferedMeansNone) {
  const Checked c = check(join(example_lines()));
  AcceptOptions options;
  options.deflate = DeflateServerOptions{};
  EXPECT_FALSE(accept_upgrade(*c.check.request, options).deflate.has_value());
}

TEST(AcceptUpgrade, ExtraHeadersAreAddedUnlessUnsafeOrContradictory) {
  const Checked c = check(join(example_lines()));
  AcceptOptions options;
  options.extra_headers = {{"Set-Cookie", "id=1"},
                           {"X-Evil", "1\r\nX-Injected: 2"},
                           {"Sec-WebSocket-Accept", "forged"},
                           {"sec-websocket-extensions", "permessage-deflate"},
                           {"Upgrade", "h2c"},
                           {"connection", "close"},
                           {"Content-Length", "0"},
                           {"Server", "wsx"}};
  EXPECT_EQ(accept_upgrade(*c.check.request, options).response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSet-Cookie: id=1\r\n"
            "Server: wsx\r\n\r\n");
}

// ---- append_upgrade_response ---------------------------------------------------------------

// The server writes its 101 with append_upgrade_response: the same bytes and the same agreement
// as accept_upgrade for every option that shapes the answer, appended after what `out` held.
TEST(AppendUpgradeResponse, MatchesAcceptUpgradeByteForByte) {
  const Checked c =
      check(with_extra("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"));
  ASSERT_TRUE(c.check.request.has_value());
  std::vector<AcceptOptions> cases(5);
  cases[1].subprotocols = {"mqtt", "superchat"};
  cases[2].deflate = DeflateServerOptions{};
  cases[2].deflate->client_max_window_bits = 11;
  cases[3].extra_headers = {{"Set-Cookie", "id=1"},        {"X-Evil", "1\r\nX-Injected: 2"},
                            {"Sec-WebSocket-Accept", "x"}, {"connection", "close"},
                            {"X-Padded", "  spaced \t"},   {"Server", "wsx"}};
  cases[4] = cases[3];
  cases[4].subprotocols = {"chat"};
  cases[4].deflate = DeflateServerOptions{};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Accepted expected = accept_upgrade(*c.check.request, cases[i]);
    std::string out = "kept";
    const UpgradeAgreement agreed = append_upgrade_response(*c.check.request, cases[i], out);
    EXPECT_EQ(out, "kept" + expected.response) << "case " << i;
    EXPECT_EQ(agreed.subprotocol, expected.subprotocol) << "case " << i;
    EXPECT_EQ(agreed.deflate.has_value(), expected.deflate.has_value()) << "case " << i;
    if (agreed.deflate && expected.deflate) {
      EXPECT_EQ(agreed.deflate->client_max_window_bits, expected.deflate->client_max_window_bits);
      EXPECT_EQ(agreed.deflate->server_max_window_bits, expected.deflate->server_max_window_bits);
    }
  }
}

TEST(AppendUpgradeResponse, RfcExampleResponse) {
  const Checked c = check(join(example_lines()));
  ASSERT_TRUE(c.check.request.has_value());
  std::string out;
  const UpgradeAgreement agreed = append_upgrade_response(*c.check.request, {}, out);
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  EXPECT_FALSE(agreed.subprotocol.has_value());
  EXPECT_FALSE(agreed.deflate.has_value());
}

}  // namespace
}  // namespace wsx::proto
