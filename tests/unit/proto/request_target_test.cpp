#include "wsx/proto/request_target.hpp"

#include <gtest/gtest.h>

#include <string>

#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::proto {
namespace {

TEST(RequestTarget, OriginForm) {
  const auto t = parse_request_target("/a/b?c=d?e");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->target, "/a/b?c=d?e");
  EXPECT_EQ(t->path, "/a/b");
  EXPECT_EQ(t->query, "c=d?e");
  EXPECT_FALSE(t->authority);
  EXPECT_EQ(parse_request_target("/")->path, "/");
  EXPECT_EQ(parse_request_target("/?")->query, "");
}

TEST(RequestTarget, AbsoluteFormOfTheFourSchemes) {
  for (const char* scheme : {"ws", "wss", "http", "https", "WSS", "Http"}) {
    const std::string target = std::string(scheme) + "://Host.Example:81/chat?x";
    const auto t = parse_request_target(target);  // views into `target`
    ASSERT_TRUE(t) << scheme;
    EXPECT_EQ(t->path, "/chat");
    EXPECT_EQ(t->query, "x");
    EXPECT_EQ(t->target, "/chat?x");
    EXPECT_EQ(t->authority, "Host.Example:81");
  }
  EXPECT_EQ(parse_request_target("wss://host")->path, "/");
  EXPECT_EQ(parse_request_target("wss://host")->target, "/");
  EXPECT_EQ(parse_request_target("ws://host?q")->path, "/");
  EXPECT_EQ(parse_request_target("ws://host?q")->query, "q");
  EXPECT_EQ(parse_request_target("ws://[::1]:9/x")->authority, "[::1]:9");
}

TEST(RequestTarget, EverythingElseIsRefused) {
  for (const char* target :
       {"", "*", "host:80", "chat", "ftp://h/chat", "gopher://h/", "ws:/chat", "ws://",
        "ws:///chat", "ws://user@h/chat", "http://user:pw@h/", "ws://h:x/", "ws://[::1/",
        "/chat#frag", "ws://h/chat#frag", "ws://h#/chat", "/a?b#c"}) {
    EXPECT_FALSE(parse_request_target(target)) << target;
  }
}

TEST(RequestTarget, AuthorityRules) {
  for (const char* good : {"h", "h:", "h:8080", "192.0.2.1:80", "[::1]", "[::1]:443", "a-b.c_d~"}) {
    EXPECT_TRUE(is_valid_authority(good)) << good;
  }
  for (const char* bad : {"", ":80", "a b", "user@h", "h:80x", "[::1", "[]", "[::1]x", "h/p"}) {
    EXPECT_FALSE(is_valid_authority(bad)) << bad;
  }
}

// The handshake uses this very parse: what it accepts has the path parse_request_target gives,
// and what this refuses it refuses.
TEST(RequestTarget, TheHandshakeAgrees) {
  for (const char* target : {"/a?b", "ws://h/x?y", "https://h", "ftp://h/a", "/a#b", "*"}) {
    const std::string text = std::string("GET ") + target +
                             " HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n";
    HttpHeadParser parser(HttpKind::request);
    ASSERT_EQ(parser.parse(text.data(), text.size()), HttpParseStatus::complete) << target;
    const UpgradeCheck check = check_upgrade_request(parser.head());
    const auto parsed = parse_request_target(target);
    ASSERT_EQ(check.error == UpgradeError::none, parsed.has_value()) << target;
    if (parsed) {
      EXPECT_EQ(check.request->path, parsed->path) << target;
    } else {
      EXPECT_EQ(check.error, UpgradeError::bad_target) << target;
    }
  }
}

}  // namespace
}  // namespace wsx::proto
