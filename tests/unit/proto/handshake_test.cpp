// accept_key, and the two halves of the handshake run against each other: what our client sends
// our server accepts, what our server answers our client accepts, and each tampered part fails
// with its own error.
#include "wsx/proto/handshake.hpp"

#include <gtest/gtest.h>

#include "parsed_head.hpp"

namespace wsx::proto {
namespace {

using testing::parse_request;
using testing::parse_response;
using testing::ParsedHead;

TEST(AcceptKey, Rfc6455Section1_3Example) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(AcceptKey, OtherKeys) {
  // Computed independently: base64(sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
  EXPECT_EQ(accept_key("AAAAAAAAAAAAAAAAAAAAAA=="), "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
  EXPECT_EQ(accept_key(""), "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
}

// Replaces the first occurrence of `from` in `text` (which must contain it) by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

struct Pair {
  ClientRequestOptions client;
  AcceptOptions server;
};

Pair full_pair() {
  Pair p;
  p.client.host = "example.com";
  p.client.port = 9001;
  p.client.target = "/chat?room=7";
  p.client.origin = "https://example.com";
  p.client.subprotocols = {"v2.chat", "v1.chat"};
  p.client.deflate = DeflateClientOptions{};
  p.client.deflate->server_max_window_bits = 12;
  p.client.extra_headers = {{"Cookie", "id=42"}};
  p.server.subprotocols = {"v1.chat", "v2.chat"};
  p.server.deflate = DeflateServerOptions{};
  p.server.deflate->client_max_window_bits = 11;
  p.server.deflate->server_no_context_takeover = true;
  p.server.extra_headers = {{"Server", "wsx"}};
  return p;
}

TEST(HandshakePair, ClientRequestPassesTheServerAndTheAnswerPassesTheClient) {
  const Pair p = full_pair();
  const ClientHandshake client(p.client);

  const ParsedHead request = parse_request(client.request());
  ASSERT_EQ(request.status, HttpParseStatus::complete);
  EXPECT_EQ(request.head_size, client.request().size());
  const UpgradeCheck check = check_upgrade_request(request.head);
  ASSERT_EQ(check.error, UpgradeError::none) << describe(check.error);
  const UpgradeRequest& upgrade = *check.request;
  EXPECT_EQ(upgrade.path, "/chat");
  EXPECT_EQ(upgrade.query, "room=7");
  EXPECT_EQ(upgrade.host, "example.com:9001");
  EXPECT_EQ(upgrade.origin, "https://example.com");
  EXPECT_EQ(upgrade.key, client.key());
  EXPECT_EQ(upgrade.subprotocols, (std::vector<std::string_view>{"v2.chat", "v1.chat"}));
  EXPECT_EQ(upgrade.head->header("Cookie"), "id=42");

  const Accepted accepted = accept_upgrade(upgrade, p.server);
  EXPECT_EQ(accepted.subprotocol, "v1.chat");  // the server's preference
  ASSERT_TRUE(accepted.deflate.has_value());

  // The 101 may be followed at once by the server's first frame in the same read.
  const std::string wire = accepted.response + "\x81\x02hi";
  const ParsedHead response = parse_response(wire);
  ASSERT_EQ(response.status, HttpParseStatus::complete);
  EXPECT_EQ(response.head_size, accepted.response.size());
  EXPECT_EQ(response.head.header("Server"), "wsx");
  const ClientHandshakeResult result = client.check_response(response.head);
  ASSERT_EQ(result.error, ClientHandshakeError::none) << result.message;
  EXPECT_EQ(result.subprotocol, accepted.subprotocol);
  ASSERT_TRUE(result.deflate.has_value());
  EXPECT_TRUE(result.deflate->server_no_context_takeover);
  EXPECT_EQ(result.deflate->server_no_context_takeover,
            accepted.deflate->server_no_context_takeover);
  EXPECT_EQ(result.deflate->client_no_context_takeover,
            accepted.deflate->client_no_context_takeover);
  EXPECT_EQ(result.deflate->server_max_window_bits, 12);
  EXPECT_EQ(accepted.deflate->server_max_window_bits, 12);
  EXPECT_EQ(result.deflate->client_max_window_bits, 11);
  EXPECT_EQ(accepted.deflate->client_max_window_bits, 11);
}

TEST(HandshakePair, MinimalClientAndServer) {
  ClientRequestOptions options;
  options.host = "localhost";
  const ClientHandshake client(options);
  const ParsedHead request = parse_request(client.request());
  const UpgradeCheck check = check_upgrade_request(request.head);
  ASSERT_EQ(check.error, UpgradeError::none);
  const Accepted accepted = accept_upgrade(*check.request, {});
  const ParsedHead response = parse_response(accepted.response);
  const ClientHandshakeResult result = client.check_response(response.head);
  EXPECT_EQ(result.error, ClientHandshakeError::none) << result.message;
  EXPECT_FALSE(result.subprotocol.has_value());
  EXPECT_FALSE(result.deflate.has_value());
}

// Each tampered part of a real client request fails the server check with its own error.
TEST(HandshakePair, TamperedRequestsFailPrecisely) {
  const ClientHandshake client(full_pair().client);
  const std::string request = client.request();
  const std::string key_line = "Sec-WebSocket-Key: " + client.key();
  const struct {
    std::string from, to;
    UpgradeError error;
  } cases[] = {
      {"GET ", "PUT ", UpgradeError::method_not_get},
      {"Upgrade: websocket", "Upgrade: websocket2", UpgradeError::missing_upgrade_websocket},
      {"HTTP/1.1", "HTTP/1.0", UpgradeError::http_version_too_old},
      {"Host: example.com:9001", "Hots: example.com:9001", UpgradeError::missing_host},
      {"Connection: Upgrade", "Connection: close", UpgradeError::missing_connection_upgrade},
      {key_line, "X-Key: x", UpgradeError::missing_key},
      {key_line, key_line.substr(0, key_line.size() - 2), UpgradeError::bad_key},
      {"Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 12", UpgradeError::unsupported_version},
      {"Sec-WebSocket-Version: 13", "Sec-WebSocket-Versio: 13", UpgradeError::missing_version},
      {"Origin: https://example.com", "Origin: a\r\nOrigin: b", UpgradeError::repeated_origin},
      {"GET /chat", "GET chat", UpgradeError::bad_target},
      {"Protocol: v2.chat", "Protocol: v2 chat", UpgradeError::bad_protocols},
      {"Extensions: permessage-deflate", "Extensions: permessage-deflate;;",
       UpgradeError::bad_extensions},
  };
  for (const auto& c : cases) {
    const ParsedHead parsed = parse_request(replaced(request, c.from, c.to));
    ASSERT_EQ(parsed.status, HttpParseStatus::complete) << c.to;
    EXPECT_EQ(check_upgrade_request(parsed.head).error, c.error) << c.from << " → " << c.to;
  }
}

// Each tampered part of a real server answer fails the client check with its own message.
TEST(HandshakePair, TamperedResponsesFailPrecisely) {
  const Pair p = full_pair();
  const ClientHandshake client(p.client);
  const ParsedHead request = parse_request(client.request());
  const UpgradeCheck check = check_upgrade_request(request.head);
  ASSERT_TRUE(check.request.has_value());
  const std::string response = accept_upgrade(*check.request, p.server).response;
  const std::string accept = accept_key(client.key());
  const std::string deflate_line =
      "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
      "server_max_window_bits=12; client_max_window_bits=11";
  ASSERT_NE(response.find(deflate_line), std::string::npos) << response;

  const struct {
    std::string from, to;
    ClientHandshakeError error;
    std::string message;
  } cases[] = {
      {"101 Switching Protocols", "403 Forbidden", ClientHandshakeError::bad_status,
       "server answered 403 Forbidden"},
      {"Upgrade: websocket", "Upgrade: h2c", ClientHandshakeError::missing_upgrade,
       "Upgrade was \"h2c\", expected websocket"},
      {"Connection: Upgrade", "Connection: keep-alive", ClientHandshakeError::missing_connection,
       "Connection was \"keep-alive\", which lacks the upgrade token"},
      {accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", ClientHandshakeError::bad_accept,
       "Sec-WebSocket-Accept was s3pPLMBiTxaQ9kYGzzhZRbK+xOo=, expected " + accept},
      {"Protocol: v1.chat", "Protocol: v3.chat", ClientHandshakeError::unexpected_subprotocol,
       "server selected subprotocol \"v3.chat\", which we did not offer"},
      {"permessage-deflate;", "x-deflate;", ClientHandshakeError::unexpected_extension,
       "server accepted extension \"x-deflate\", which we did not offer"},
      {"server_max_window_bits=12", "server_max_window_bits=13",
       ClientHandshakeError::bad_extension,
       "permessage-deflate: server_max_window_bits=13 is larger than the 12 we asked for"},
      {"server_max_window_bits=12; ", "", ClientHandshakeError::bad_extension,
       "permessage-deflate: server did not confirm the server_max_window_bits=12 we asked for"},
      {"client_max_window_bits=11", "client_max_window_bits=11; mux",
       ClientHandshakeError::bad_extension,
       "permessage-deflate: unknown permessage-deflate parameter \"mux\""},
  };
  for (const auto& c : cases) {
    const ParsedHead parsed = parse_response(replaced(response, c.from, c.to));
    ASSERT_EQ(parsed.status, HttpParseStatus::complete) << c.to;
    const ClientHandshakeResult result = client.check_response(parsed.head);
    EXPECT_EQ(result.error, c.error) << c.to;
    EXPECT_EQ(result.message, c.message);
    EXPECT_FALSE(result.subprotocol.has_value() && result.error != ClientHandshakeError::none);
  }
}

// A server that negotiated with one client's key cannot satisfy another client.
TEST(HandshakePair, AnswerToAnotherKeyFails) {
  const ClientHandshake first(full_pair().client);
  const ClientHandshake second(full_pair().client);
  const ParsedHead request = parse_request(first.request());
  const UpgradeCheck check = check_upgrade_request(request.head);
  const ParsedHead response = parse_response(accept_upgrade(*check.request, {}).response);
  EXPECT_EQ(first.check_response(response.head).error, ClientHandshakeError::none);
  EXPECT_EQ(second.check_response(response.head).error, ClientHandshakeError::bad_accept);
}

}  // namespace
}  // namespace wsx::proto
