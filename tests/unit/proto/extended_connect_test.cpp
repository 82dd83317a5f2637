// The server handshake for an HTTP/2 extended CONNECT (RFC 8441 §4-5): the same checks and the
// same negotiation as an HTTP/1.1 upgrade, on a head built from HTTP/2 fields (version 2).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "wsx/proto/handshake.hpp"

namespace wsx::proto {
namespace {

// The HEADERS of RFC 8441 §5.1's example, as the HTTP/2 layer hands them over.
HttpHead example_connect() {
  HttpHead head;
  head.method = "CONNECT";
  head.protocol = "websocket";
  head.target = "/chat?room=1";
  head.version_major = 2;
  head.version_minor = 0;
  head.headers = {{"host", "server.example.com"},
                  {"sec-websocket-protocol", "chat, superchat"},
                  {"sec-websocket-extensions", "permessage-deflate"},
                  {"sec-websocket-version", "13"},
                  {"origin", "http://www.example.com"}};
  return head;
}

std::optional<std::string_view> find(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return std::nullopt;
}

TEST(ExtendedConnect, ValidRequestYieldsTheSameRequestWithoutKey) {
  const HttpHead head = example_connect();
  const UpgradeCheck check = check_upgrade_request(head);
  ASSERT_EQ(check.error, UpgradeError::none) << describe(check.error);
  const UpgradeRequest& request = *check.request;
  EXPECT_EQ(request.path, "/chat");
  EXPECT_EQ(request.query, "room=1");
  EXPECT_EQ(request.host, "server.example.com");
  EXPECT_EQ(request.origin, "http://www.example.com");
  EXPECT_TRUE(request.key.empty());
  EXPECT_EQ(request.subprotocols, (std::vector<std::string_view>{"chat", "superchat"}));
  ASSERT_EQ(request.extensions.size(), 1u);
  EXPECT_EQ(request.extensions[0].name, "permessage-deflate");
}

TEST(ExtendedConnect, GetOverHttp2IsPlainHttpToAWebSocketResource) {
  HttpHead head = example_connect();
  head.method = "GET";
  head.protocol = {};
  const UpgradeCheck check = check_upgrade_request(head);
  EXPECT_EQ(check.error, UpgradeError::not_extended_connect);
  EXPECT_EQ(check.rejection.status, 426);
}

TEST(ExtendedConnect, ConnectWithoutProtocolIsRefused) {
  HttpHead head = example_connect();
  head.protocol = {};
  EXPECT_EQ(check_upgrade_request(head).error, UpgradeError::not_extended_connect);
}

TEST(ExtendedConnect, AnotherProtocolIs400) {
  HttpHead head = example_connect();
  head.protocol = "webtransport";
  const UpgradeCheck check = check_upgrade_request(head);
  EXPECT_EQ(check.error, UpgradeError::unsupported_protocol);
  EXPECT_EQ(check.rejection.status, 400);
}

TEST(ExtendedConnect, NoUpgradeConnectionOrKeyNeeded) {
  // The example has none of them; an HTTP/1.1 head without them would fail at Upgrade.
  HttpHead head = example_connect();
  head.version_major = 1;
  head.version_minor = 1;
  head.method = "GET";
  EXPECT_EQ(check_upgrade_request(head).error, UpgradeError::missing_upgrade_websocket);
}

TEST(ExtendedConnect, VersionOtherThan13Is426) {
  HttpHead head = example_connect();
  head.headers[3].value = "8";
  const UpgradeCheck check = check_upgrade_request(head);
  EXPECT_EQ(check.error, UpgradeError::unsupported_version);
  EXPECT_EQ(check.rejection.status, 426);
}

TEST(ExtendedConnect, MissingAuthorityIsRefused) {
  HttpHead head = example_connect();
  head.headers.erase(head.headers.begin());
  EXPECT_EQ(check_upgrade_request(head).error, UpgradeError::missing_host);
}

TEST(ExtendedConnect, RepeatedOriginAndBadProtocolsAsForHttp1) {
  HttpHead head = example_connect();
  head.headers.push_back({"origin", "http://evil.example"});
  EXPECT_EQ(check_upgrade_request(head).error, UpgradeError::repeated_origin);
  head = example_connect();
  head.headers[1].value = "chat, chat";
  EXPECT_EQ(check_upgrade_request(head).error, UpgradeError::bad_protocols);
  head = example_connect();
  head.headers[2].value = "permessage-deflate; =";
  EXPECT_EQ(check_upgrade_request(head).error, UpgradeError::bad_extensions);
}

TEST(ExtendedConnect, AcceptAnswersLowerCaseFieldsWithoutHttp1Headers) {
  const HttpHead head = example_connect();
  const UpgradeCheck check = check_upgrade_request(head);
  ASSERT_TRUE(check.request);
  AcceptOptions options;
  options.subprotocols = {"superchat"};
  options.deflate = DeflateServerOptions{};
  options.extra_headers = {{"X-Served-By", "wsx"}, {"Connection", "close"}, {"Bad", "a\r\nb"}};
  const Accepted accepted = accept_upgrade(*check.request, options);
  EXPECT_TRUE(accepted.response.empty());  // no 101 for HTTP/2
  EXPECT_EQ(accepted.subprotocol, "superchat");
  ASSERT_TRUE(accepted.deflate);
  EXPECT_EQ(find(accepted.headers, "sec-websocket-protocol"), "superchat");
  EXPECT_EQ(find(accepted.headers, "sec-websocket-extensions"), "permessage-deflate");
  EXPECT_EQ(find(accepted.headers, "x-served-by"), "wsx");
  EXPECT_FALSE(find(accepted.headers, "sec-websocket-accept"));
  EXPECT_FALSE(find(accepted.headers, "upgrade"));
  EXPECT_FALSE(find(accepted.headers, "connection"));
  EXPECT_FALSE(find(accepted.headers, "Connection"));
  EXPECT_FALSE(find(accepted.headers, "bad"));
  EXPECT_EQ(accepted.headers.size(), 3u);
}

TEST(ExtendedConnect, Http1AcceptStillWrites101AndListsItsFields) {
  HttpHead head;
  head.method = "GET";
  head.target = "/chat";
  head.headers = {{"Host", "server.example.com"},
                  {"Upgrade", "websocket"},
                  {"Connection", "Upgrade"},
                  {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                  {"Sec-WebSocket-Version", "13"}};
  const UpgradeCheck check = check_upgrade_request(head);
  ASSERT_TRUE(check.request) << describe(check.error);
  const Accepted accepted = accept_upgrade(*check.request, {});
  EXPECT_EQ(accepted.response.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u);
  EXPECT_NE(accepted.response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
  EXPECT_EQ(find(accepted.headers, "Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

}  // namespace
}  // namespace wsx::proto
