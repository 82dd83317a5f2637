// The admin endpoint of `wsx serve` (tools/wsx/serve_admin.hpp, serve_connections.hpp): who may
// see the live connections, and JSON that stays valid whatever a peer put in its request.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "serve_admin.hpp"
#include "serve_connections.hpp"

namespace wsx::tool {
namespace {

constexpr std::string_view token = "0123456789abcdef0123";

// A request as the server hands it to the http handler, with the headers given.
struct Request {
  std::vector<proto::HttpHeader> headers;
  proto::HttpHead head;
  HttpRequest request;

  Request(std::string_view peer, std::vector<proto::HttpHeader> list,
          std::string_view method = "GET")
      : headers(std::move(list)) {
    head.method = method;
    head.target = admin_connections_path;
    head.headers = headers;
    request.method = method;
    request.target = admin_connections_path;
    request.path = admin_connections_path;
    request.remote_address = peer;
    request.head = &head;
  }
};

AdminVerdict verdict(std::string_view peer, std::vector<proto::HttpHeader> headers,
                     std::string_view configured = {}) {
  Request r(peer, std::move(headers));
  return admin_verdict(r.request, configured);
}

TEST(AdminAccess, LoopbackPeersAreAllOfLoopbackNotOtherAddresses) {
  EXPECT_TRUE(is_loopback_peer("127.0.0.1:5000"));
  EXPECT_TRUE(is_loopback_peer("127.0.0.2:5000"));  // 127.0.0.0/8 is loopback, all of it
  EXPECT_TRUE(is_loopback_peer("127.255.255.254:1"));
  EXPECT_TRUE(is_loopback_peer("[::1]:5000"));
  EXPECT_TRUE(is_loopback_peer("[::ffff:127.0.0.1]:5000"));  // a dual-stack listener's view
  EXPECT_FALSE(is_loopback_peer("192.0.2.1:5000"));
  EXPECT_FALSE(is_loopback_peer("128.0.0.1:5000"));
  EXPECT_FALSE(is_loopback_peer("[::ffff:192.0.2.1]:5000"));
  EXPECT_FALSE(is_loopback_peer("[2001:db8::1]:5000"));
  EXPECT_FALSE(is_loopback_peer("[::1"));
  EXPECT_FALSE(is_loopback_peer(""));
}

TEST(AdminAccess, LoopbackHostNamesOnly) {
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("LocalHost:8080"));
  EXPECT_TRUE(is_loopback_host("127.0.0.1:8080"));
  EXPECT_TRUE(is_loopback_host("127.0.0.9"));
  EXPECT_TRUE(is_loopback_host("[::1]:8080"));
  EXPECT_FALSE(is_loopback_host("evil.example:8080"));
  EXPECT_FALSE(is_loopback_host("localhost.evil.example"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.evil.example"));
  EXPECT_FALSE(is_loopback_host("192.0.2.1:8080"));
  EXPECT_FALSE(is_loopback_host("[::1]x"));
  EXPECT_FALSE(is_loopback_host(""));
}

TEST(AdminAccess, LoopbackClientWithoutToken) {
  EXPECT_EQ(verdict("127.0.0.1:1", {{"Host", "127.0.0.1:8080"}}), AdminVerdict::allowed);
  EXPECT_EQ(verdict("[::1]:1", {{"Host", "localhost:8080"}}), AdminVerdict::allowed);
  // The console page itself: a same-origin fetch.
  EXPECT_EQ(verdict("127.0.0.1:1", {{"Host", "127.0.0.1:8080"}, {"Sec-Fetch-Site", "same-origin"}}),
            AdminVerdict::allowed);
  // A token configured does not take loopback's view away (loopback OR token).
  EXPECT_EQ(verdict("127.0.0.1:1", {{"Host", "127.0.0.1:8080"}}, token), AdminVerdict::allowed);
}

TEST(AdminAccess, DnsRebindingAndCrossSitePagesAreRefused) {
  // A page of evil.example whose name resolves to 127.0.0.1: loopback peer, foreign Host.
  EXPECT_EQ(verdict("127.0.0.1:1", {{"Host", "evil.example:8080"}}), AdminVerdict::forbidden);
  EXPECT_EQ(verdict("127.0.0.1:1", {}), AdminVerdict::forbidden);  // no Host at all
  EXPECT_EQ(verdict("127.0.0.1:1", {{"Host", "127.0.0.1:8080"}, {"Sec-Fetch-Site", "cross-site"}}),
            AdminVerdict::forbidden);
  EXPECT_EQ(verdict("127.0.0.1:1", {{"Host", "127.0.0.1:8080"}, {"Sec-Fetch-Site", "same-site"}}),
            AdminVerdict::forbidden);
}

TEST(AdminAccess, OtherAddressesNeedTheToken) {
  const std::vector<proto::HttpHeader> host = {{"Host", "192.0.2.1:8080"}};
  EXPECT_EQ(verdict("192.0.2.7:1", host), AdminVerdict::forbidden);  // no token configured
  // Even a loopback Host header does not stand in for a loopback peer.
  EXPECT_EQ(verdict("192.0.2.7:1", {{"Host", "127.0.0.1:8080"}}), AdminVerdict::forbidden);
  EXPECT_EQ(verdict("192.0.2.7:1", host, token), AdminVerdict::unauthorized);
  const std::string right = "Bearer " + std::string(token);
  const std::string lower = "bearer  " + std::string(token) + " ";
  const std::string longer = right + "0";
  const std::string shorter = right.substr(0, right.size() - 1);
  EXPECT_EQ(verdict("192.0.2.7:1", {{"Host", "x"}, {"Authorization", right}}, token),
            AdminVerdict::allowed);
  EXPECT_EQ(verdict("192.0.2.7:1", {{"Host", "x"}, {"Authorization", lower}}, token),
            AdminVerdict::allowed);
  EXPECT_EQ(verdict("192.0.2.7:1", {{"Host", "x"}, {"Authorization", longer}}, token),
            AdminVerdict::unauthorized);
  EXPECT_EQ(verdict("192.0.2.7:1", {{"Host", "x"}, {"Authorization", shorter}}, token),
            AdminVerdict::unauthorized);
  EXPECT_EQ(verdict("192.0.2.7:1", {{"Host", "x"}, {"Authorization", std::string(token)}}, token),
            AdminVerdict::unauthorized);  // no "Bearer"
  EXPECT_EQ(verdict("192.0.2.7:1", {{"Host", "x"}, {"Authorization", "Bearer "}}, token),
            AdminVerdict::unauthorized);
  // Without a configured token, no header opens it (an empty token is not a token).
  EXPECT_EQ(verdict("192.0.2.7:1", {{"Host", "x"}, {"Authorization", "Bearer "}}),
            AdminVerdict::forbidden);
}

TEST(AdminAccess, TokensCompareWhole) {
  EXPECT_TRUE(tokens_equal(token, token));
  EXPECT_FALSE(tokens_equal("", token));
  EXPECT_FALSE(tokens_equal(std::string(token) + "x", token));
  EXPECT_FALSE(tokens_equal(std::string_view(token).substr(1), token));
  std::string flipped(token);
  flipped.back() ^= 1;
  EXPECT_FALSE(tokens_equal(flipped, token));
}

TEST(AdminResponse, StatusesAndHeaders) {
  ConnectionRegistry registry;
  auto header = [](const proto::HttpResponse& response, std::string_view name) {
    for (const auto& [key, value] : response.headers) {
      if (key == name) return value;
    }
    return std::string();
  };
  Request remote("192.0.2.7:1", {{"Host", "192.0.2.1"}});
  proto::HttpResponse refused = admin_response(remote.request, {}, registry);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.body.find("\"connections\""), std::string::npos);
  proto::HttpResponse challenged = admin_response(remote.request, token, registry);
  EXPECT_EQ(challenged.status, 401);
  EXPECT_EQ(header(challenged, "WWW-Authenticate"), "Bearer realm=\"wsx admin\"");
  Request local("127.0.0.1:1", {{"Host", "localhost"}});
  proto::HttpResponse ok = admin_response(local.request, {}, registry);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(header(ok, "Content-Type"), "application/json");
  EXPECT_EQ(header(ok, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header(ok, "Cache-Control"), "no-store");
  Request post("127.0.0.1:1", {{"Host", "localhost"}}, "POST");
  EXPECT_EQ(admin_response(post.request, {}, registry).status, 405);
}

TEST(ConnectionRecord, CountsDataFramesAndMessagesAtTheirEnd) {
  ConnectionRecord record;
  proto::FrameHeader first{.fin = false, .opcode = proto::Opcode::text, .payload_length = 10};
  proto::FrameHeader last{.fin = true, .opcode = proto::Opcode::continuation, .payload_length = 5};
  proto::FrameHeader ping{.fin = true, .opcode = proto::Opcode::ping, .payload_length = 4};
  proto::FrameHeader close{.fin = true, .opcode = proto::Opcode::close, .payload_length = 2};
  proto::FrameHeader binary{.fin = true, .opcode = proto::Opcode::binary, .payload_length = 7};
  record.count_frame(false, first);
  EXPECT_EQ(record.received.messages.load(), 0u);  // not finished yet
  record.count_frame(false, last);
  record.count_frame(false, ping);
  record.count_frame(true, close);
  record.count_frame(true, binary);
  EXPECT_EQ(record.received.messages.load(), 1u);
  EXPECT_EQ(record.received.bytes.load(), 15u);
  EXPECT_EQ(record.sent.messages.load(), 1u);
  EXPECT_EQ(record.sent.bytes.load(), 7u);
}

TEST(ConnectionRegistry, JsonListsOpenConnectionsOnly) {
  ConnectionRegistry registry;
  auto a = registry.open("127.0.0.1:1000", "/echo", "", "");
  auto b = registry.open("[::1]:2000", "/chat/lobby", "chat.v1", "permessage-deflate", "h2");
  proto::FrameHeader text{.fin = true, .opcode = proto::Opcode::text, .payload_length = 6};
  b->count_frame(false, text);
  b->count_frame(true, text);
  b->count_frame(true, text);
  registry.close(*a);
  EXPECT_EQ(registry.size(), 1u);
  const auto now = b->opened + std::chrono::milliseconds(1500);
  const std::string json = registry.json(now, std::chrono::system_clock::time_point{});
  EXPECT_EQ(json.find("127.0.0.1:1000"), std::string::npos);
  const std::string expected =
      "{\"id\":2,\"peer\":\"[::1]:2000\",\"path\":\"/chat/lobby\",\"protocol\":\"chat.v1\","
      "\"extensions\":\"permessage-deflate\",\"transport\":\"h2\",\"opened_ms\":";
  EXPECT_NE(json.find(expected), std::string::npos) << json;
  EXPECT_NE(json.find("\"age_ms\":1500,\"received\":{\"messages\":1,\"bytes\":6},"
                      "\"sent\":{\"messages\":2,\"bytes\":12}}"),
            std::string::npos)
      << json;
  EXPECT_EQ(json.rfind("{\"now_ms\":0,\"connections\":[", 0), 0u) << json;
  EXPECT_NE(json.find("\"refused\":[]}"), std::string::npos) << json;
}

// Every byte a peer chose (path, origin, target) comes out escaped: the JSON stays one valid
// document, with no raw control character, quote or backslash of the input.
TEST(ConnectionRegistry, HostileTextIsEscaped) {
  ConnectionRegistry registry;
  const std::string hostile =
      std::string("/a\"b\\c\nd\re\tf\x01g\x7f</script>\xe6\x97\xa5") + std::string(1, '\0') + "z";
  registry.open("127.0.0.1:1", hostile, "p\"", "x\\");
  registry.refused({std::chrono::system_clock::time_point{} + std::chrono::milliseconds(42),
                    "127.0.0.1:2", hostile, "http://o\"rigin", 403});
  registry.refused({{}, "127.0.0.1:3", "/bad\xff\xfe", "", 404});  // not UTF-8
  const std::string json =
      registry.json(std::chrono::steady_clock::now(), std::chrono::system_clock::time_point{});
  for (const char c : json) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20) << json;
    EXPECT_NE(static_cast<unsigned char>(c), 0x7f) << json;
  }
  const std::string escaped =
      "\"/a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007f</script>\xe6\x97\xa5\\u0000z\"";
  EXPECT_NE(json.find("\"path\":" + escaped), std::string::npos) << json;
  EXPECT_NE(json.find("\"target\":" + escaped), std::string::npos) << json;
  EXPECT_NE(json.find("\"protocol\":\"p\\\"\",\"extensions\":\"x\\\\\""), std::string::npos);
  EXPECT_NE(json.find("\"origin\":\"http://o\\\"rigin\",\"status\":403"), std::string::npos);
  EXPECT_NE(json.find("\"time_ms\":42"), std::string::npos);
  // Bytes that are not UTF-8 become code points, so the document is still UTF-8.
  EXPECT_NE(json.find("\"target\":\"/bad\\u00ff\\u00fe\""), std::string::npos) << json;
}

TEST(ConnectionRegistry, KeepsTheLastRefusalsOnly) {
  ConnectionRegistry registry;
  for (int i = 0; i < 40; ++i) {
    registry.refused({{}, "127.0.0.1:1", "/r" + std::to_string(i), "", 404});
  }
  const std::string json = registry.json({}, {});
  EXPECT_EQ(json.find("\"/r7\""), std::string::npos);
  EXPECT_NE(json.find("\"/r8\""), std::string::npos);
  EXPECT_NE(json.find("\"/r39\""), std::string::npos);
}

}  // namespace
}  // namespace wsx::tool
