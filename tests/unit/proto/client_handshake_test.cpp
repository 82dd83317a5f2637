#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <stdexcept>

#include "parsed_head.hpp"
#include "wsx/proto/handshake.hpp"

namespace wsx::proto {
namespace {

using testing::parse_request;
using testing::parse_response;
using testing::ParsedHead;

ClientRequestOptions basic(std::string host = "example.com") {
  ClientRequestOptions options;
  options.host = std::move(host);
  return options;
}

std::string host_line(const ClientRequestOptions& options) {
  const ClientHandshake hs(options);
  const ParsedHead p = parse_request(hs.request());
  EXPECT_EQ(p.status, HttpParseStatus::complete);
  return std::string(p.head.header("Host").value_or("(none)"));
}

// A 101 response for `hs` with `lines` (each "Name: value") added after the standard ones.
std::string response_for(const ClientHandshake& hs, const std::vector<std::string>& lines = {}) {
  std::string out =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      accept_key(hs.key()) + "\r\n";
  for (const std::string& line : lines) out += line + "\r\n";
  return out + "\r\n";
}

ClientHandshakeResult check(const ClientHandshake& hs, const std::string& response) {
  const ParsedHead p = parse_response(response);
  EXPECT_EQ(p.status, HttpParseStatus::complete) << response;
  return hs.check_response(p.head);
}

TEST(ClientHandshake, RequestHasEveryRequiredHeader) {
  ClientRequestOptions options = basic();
  options.target = "/chat?room=1";
  const ClientHandshake hs(options);
  EXPECT_EQ(hs.request(),
            "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: " +
                hs.key() + "\r\nSec-WebSocket-Version: 13\r\n\r\n");
}

TEST(ClientHandshake, KeyIsBase64Of16FreshRandomBytes) {
  const ClientHandshake a(basic());
  const ClientHandshake b(basic());
  EXPECT_NE(a.key(), b.key());
  ASSERT_EQ(a.key().size(), 24u);
  unsigned char decoded[24];
  // EVP_DecodeBlock counts the padding as decoded zero bytes: 24 chars → 18, two of them '='.
  ASSERT_EQ(EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(a.key().data()), 24),
            18);
  EXPECT_EQ(a.key().substr(22), "==");
}

TEST(ClientHandshake, EmptyTargetMeansSlash) {
  ClientRequestOptions options = basic();
  options.target = "";
  EXPECT_EQ(ClientHandshake(options).request().substr(0, 16), "GET / HTTP/1.1\r\n");
}

TEST(ClientHandshake, HostCarriesThePortOnlyWhenNotTheDefault) {
  ClientRequestOptions options = basic();
  EXPECT_EQ(host_line(options), "example.com");
  options.port = 8080;
  EXPECT_EQ(host_line(options), "example.com:8080");
  options.secure = true;
  options.port = 443;
  EXPECT_EQ(host_line(options), "example.com");
  options.port = 80;
  EXPECT_EQ(host_line(options), "example.com:80");
}

TEST(ClientHandshake, Ipv6LiteralsAreBracketed) {
  ClientRequestOptions options = basic("::1");
  EXPECT_EQ(host_line(options), "[::1]");
  options.port = 9001;
  EXPECT_EQ(host_line(options), "[::1]:9001");
  options.host = "[2001:db8::1]";
  EXPECT_EQ(host_line(options), "[2001:db8::1]:9001");
  options.host = "192.0.2.1";
  EXPECT_EQ(host_line(options), "192.0.2.1:9001");
}

TEST(ClientHandshake, OptionalHeaders) {
  ClientRequestOptions options = basic();
  options.origin = "https://example.com";
  options.subprotocols = {"chat", "superchat"};
  options.deflate = DeflateClientOptions{};
  options.extra_headers = {{"Authorization", "Bearer abc"}};
  const ClientHandshake hs(options);
  const ParsedHead p = parse_request(hs.request());
  ASSERT_EQ(p.status, HttpParseStatus::complete);
  EXPECT_EQ(p.head.header("Origin"), "https://example.com");
  EXPECT_EQ(p.head.header("Sec-WebSocket-Protocol"), "chat, superchat");
  EXPECT_EQ(p.head.header("Sec-WebSocket-Extensions"),
            "permessage-deflate; client_max_window_bits");
  EXPECT_EQ(p.head.header("Authorization"), "Bearer abc");
}

TEST(ClientHandshake, OptionsThatCannotBeWrittenSafelyThrow) {
  const auto throws = [](ClientRequestOptions options) {
    EXPECT_THROW(ClientHandshake{options}, std::invalid_argument);
  };
  throws(basic(""));
  throws(basic("[]"));
  throws(basic("exa mple.com"));
  throws(basic("example.com\r\nX-Evil: 1"));
  throws(basic("example.com/path"));
  throws(basic("user@example.com"));
  for (const char* target : {"chat", "/a b", "/a\r\nX: 1", "/a#b", "/\xC3\xA9"}) {
    ClientRequestOptions options = basic();
    options.target = target;
    throws(options);
  }
  ClientRequestOptions origin = basic();
  origin.origin = "http://a\r\nX: 1";
  throws(origin);
  for (const std::vector<std::string>& protocols :
       std::vector<std::vector<std::string>>{{"a b"}, {""}, {"chat", "chat"}, {"a,b"}}) {
    ClientRequestOptions options = basic();
    options.subprotocols = protocols;
    throws(options);
  }
  for (const auto& header : HeaderList{{"X", "a\r\nb"},
                                       {"X Y", "v"},
                                       {"X:", "v"},
                                       {"", "v"},
                                       {"sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="},
                                       {"Sec-WebSocket-Version", "8"},
                                       {"HOST", "evil.example"},
                                       {"Origin", "https://a.example"},
                                       {"Connection", "close"},
                                       {"Upgrade", "h2c"},
                                       {"Content-Length", "5"}}) {
    ClientRequestOptions options = basic();
    options.extra_headers = {header};
    throws(options);
  }
}

TEST(CheckResponse, AcceptsAProperAnswer) {
  const ClientHandshake hs(basic());
  const ClientHandshakeResult r = check(hs, response_for(hs));
  EXPECT_EQ(r.error, ClientHandshakeError::none) << r.message;
  EXPECT_EQ(r.message, "");
  EXPECT_FALSE(r.subprotocol.has_value());
  EXPECT_FALSE(r.deflate.has_value());
}

TEST(CheckResponse, StatusMustBe101) {
  const ClientHandshake hs(basic());
  ClientHandshakeResult r = check(hs, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.error, ClientHandshakeError::bad_status);
  EXPECT_EQ(r.message, "server answered 403 Forbidden");
  r = check(hs, "HTTP/1.1 200\r\n\r\n");
  EXPECT_EQ(r.message, "server answered 200 OK");
  r = check(hs, "HTTP/1.1 426 Nope\r\nSec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(r.message, "server answered 426 Nope");
}

TEST(CheckResponse, UpgradeMustBeExactlyWebsocket) {
  const ClientHandshake hs(basic());
  const std::string accept = "Sec-WebSocket-Accept: " + accept_key(hs.key()) + "\r\n";
  ClientHandshakeResult r =
      check(hs, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" + accept + "\r\n");
  EXPECT_EQ(r.error, ClientHandshakeError::missing_upgrade);
  EXPECT_EQ(r.message, "Upgrade header missing");
  r = check(hs,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket, h2c\r\nConnection: "
            "Upgrade\r\n" +
                accept + "\r\n");
  EXPECT_EQ(r.error, ClientHandshakeError::missing_upgrade);
  EXPECT_EQ(r.message, "Upgrade was \"websocket, h2c\", expected websocket");
  r = check(hs,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: "
            "upgrade\r\n" +
                accept + "\r\n");
  EXPECT_EQ(r.error, ClientHandshakeError::none) << r.message;
}

TEST(CheckResponse, ConnectionMustContainUpgrade) {
  const ClientHandshake hs(basic());
  const std::string accept = "Sec-WebSocket-Accept: " + accept_key(hs.key()) + "\r\n";
  ClientHandshakeResult r =
      check(hs, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" + accept + "\r\n");
  EXPECT_EQ(r.error, ClientHandshakeError::missing_connection);
  EXPECT_EQ(r.message, "Connection header missing");
  r = check(hs,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
            "keep-alive\r\n" +
                accept + "\r\n");
  EXPECT_EQ(r.error, ClientHandshakeError::missing_connection);
  EXPECT_EQ(r.message, "Connection was \"keep-alive\", which lacks the upgrade token");
}

TEST(CheckResponse, AcceptMustMatchExactly) {
  const ClientHandshake hs(basic());
  const std::string expected = accept_key(hs.key());
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  ClientHandshakeResult r = check(hs, head + "\r\n");
  EXPECT_EQ(r.error, ClientHandshakeError::bad_accept);
  EXPECT_EQ(r.message, "Sec-WebSocket-Accept missing");
  r = check(hs, head + "Sec-WebSocket-Accept: " + expected +
                    "\r\nSec-WebSocket-Accept: " + expected + "\r\n\r\n");
  EXPECT_EQ(r.message, "Sec-WebSocket-Accept repeated");
  r = check(hs, head + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  EXPECT_EQ(r.error, ClientHandshakeError::bad_accept);
  EXPECT_EQ(r.message,
            "Sec-WebSocket-Accept was s3pPLMBiTxaQ9kYGzzhZRbK+xOo=, expected " + expected);
  std::string lower = expected;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != expected) {
    EXPECT_EQ(check(hs, head + "Sec-WebSocket-Accept: " + lower + "\r\n\r\n").error,
              ClientHandshakeError::bad_accept);
  }
}

TEST(CheckResponse, SubprotocolMustBeOneWeOffered) {
  ClientRequestOptions options = basic();
  options.subprotocols = {"chat", "superchat"};
  const ClientHandshake hs(options);
  ClientHandshakeResult r = check(hs, response_for(hs, {"Sec-WebSocket-Protocol: superchat"}));
  EXPECT_EQ(r.error, ClientHandshakeError::none) << r.message;
  EXPECT_EQ(r.subprotocol, "superchat");
  EXPECT_FALSE(check(hs, response_for(hs)).subprotocol.has_value());  // none chosen is fine
  r = check(hs, response_for(hs, {"Sec-WebSocket-Protocol: mqtt"}));
  EXPECT_EQ(r.error, ClientHandshakeError::unexpected_subprotocol);
  EXPECT_EQ(r.message, "server selected subprotocol \"mqtt\", which we did not offer");
  r = check(hs, response_for(hs, {"Sec-WebSocket-Protocol: chat, superchat"}));
  EXPECT_EQ(r.error, ClientHandshakeError::unexpected_subprotocol);
  r = check(hs, response_for(hs, {"Sec-WebSocket-Protocol: Chat"}));
  EXPECT_EQ(r.error, ClientHandshakeError::unexpected_subprotocol);
  r = check(hs, response_for(hs, {"Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat"}));
  EXPECT_EQ(r.message, "Sec-WebSocket-Protocol repeated");

  const ClientHandshake none(basic());
  r = check(none, response_for(none, {"Sec-WebSocket-Protocol: chat"}));
  EXPECT_EQ(r.error, ClientHandshakeError::unexpected_subprotocol);
  EXPECT_EQ(r.message, "server selected subprotocol \"chat\" but we offered none");
}

TEST(CheckResponse, ExtensionsMustBeOnesWeOffered) {
  const ClientHandshake plain(basic());
  ClientHandshakeResult r =
      check(plain, response_for(plain, {"Sec-WebSocket-Extensions: permessage-deflate"}));
  EXPECT_EQ(r.error, ClientHandshakeError::unexpected_extension);
  EXPECT_EQ(r.message, "server accepted extension \"permessage-deflate\", which we did not offer");

  ClientRequestOptions options = basic();
  options.deflate = DeflateClientOptions{};
  const ClientHandshake hs(options);
  r = check(hs, response_for(hs, {"Sec-WebSocket-Extensions: x-foo"}));
  EXPECT_EQ(r.error, ClientHandshakeError::unexpected_extension);
  EXPECT_EQ(r.message, "server accepted extension \"x-foo\", which we did not offer");
  r = check(hs, response_for(hs, {"Sec-WebSocket-Extensions: permessage-deflate;"}));
  EXPECT_EQ(r.error, ClientHandshakeError::bad_extension);
  EXPECT_EQ(r.message, "Sec-WebSocket-Extensions does not parse: permessage-deflate;");
  r = check(hs, response_for(hs, {"Sec-WebSocket-Extensions: permessage-deflate",
                                  "Sec-WebSocket-Extensions: permessage-deflate"}));
  EXPECT_EQ(r.error, ClientHandshakeError::bad_extension);
  EXPECT_EQ(r.message, "server accepted permessage-deflate twice");
  r = check(hs, response_for(hs, {"Sec-WebSocket-Extensions: permessage-deflate; "
                                  "client_max_window_bits=8"}));
  EXPECT_EQ(r.error, ClientHandshakeError::bad_extension);
  EXPECT_EQ(r.message,
            "permessage-deflate: server asked for client_max_window_bits=8, which zlib cannot "
            "compress with");
  r = check(hs, response_for(hs, {"Sec-WebSocket-Extensions: permessage-deflate; "
                                  "server_no_context_takeover; client_max_window_bits=10"}));
  ASSERT_EQ(r.error, ClientHandshakeError::none) << r.message;
  ASSERT_TRUE(r.deflate.has_value());
  EXPECT_TRUE(r.deflate->server_no_context_takeover);
  EXPECT_EQ(r.deflate->client_max_window_bits, 10);
  // Declining is always allowed.
  r = check(hs, response_for(hs));
  EXPECT_EQ(r.error, ClientHandshakeError::none);
  EXPECT_FALSE(r.deflate.has_value());
}

}  // namespace
}  // namespace wsx::proto

// ---- HTTP/2 (RFC 8441): the same request as an extended CONNECT, its 200 checked the same way

namespace wsx::proto {
namespace {

HttpHead h2_response(int status, const std::vector<HttpHeader>& headers = {}) {
  HttpHead head;
  head.version_major = 2;
  head.version_minor = 0;
  head.status = status;
  head.headers = headers;
  return head;
}

TEST(ExtendedConnect, PseudoHeadersFirstThenTheWebSocketFieldsInLowerCase) {
  ClientRequestOptions options = basic();
  options.secure = true;
  options.port = 8443;
  options.target = "/chat?room=1";
  options.origin = "https://example.com";
  options.subprotocols = {"v2", "v1"};
  options.deflate = DeflateClientOptions{};
  options.extra_headers = {{"Authorization", "Bearer x"},
                           {"Keep-Alive", "timeout=5"},
                           {"TE", "trailers"},
                           {"Proxy-Connection", "keep-alive"}};
  const ClientHandshake hs(options);
  const HeaderList fields = hs.extended_connect();
  const HeaderList expected = {{":method", "CONNECT"},
                               {":protocol", "websocket"},
                               {":scheme", "https"},
                               {":path", "/chat?room=1"},
                               {":authority", "example.com:8443"},
                               {"sec-websocket-version", "13"},
                               {"origin", "https://example.com"},
                               {"sec-websocket-protocol", "v2, v1"},
                               {"sec-websocket-extensions", deflate_offer(*options.deflate)},
                               {"authorization", "Bearer x"}};
  EXPECT_EQ(fields, expected);
}

TEST(ExtendedConnect, DefaultPortAndPathAreLeftOut) {
  ClientRequestOptions options = basic();
  options.secure = true;
  options.port = 443;
  options.target = "";
  const HeaderList fields = ClientHandshake(options).extended_connect();
  EXPECT_EQ(fields[3], (std::pair<std::string, std::string>{":path", "/"}));
  EXPECT_EQ(fields[4], (std::pair<std::string, std::string>{":authority", "example.com"}));
  EXPECT_EQ(fields.size(), 6u);  // no origin, subprotocol or extension offered
}

TEST(ExtendedConnect, A200WithoutUpgradeOrAcceptOpens) {
  ClientRequestOptions options = basic();
  options.subprotocols = {"v1"};
  options.deflate = DeflateClientOptions{};
  const ClientHandshake hs(options);
  const ClientHandshakeResult result = hs.check_response(h2_response(
      200, {{"sec-websocket-protocol", "v1"}, {"sec-websocket-extensions", "permessage-deflate"}}));
  EXPECT_EQ(result.error, ClientHandshakeError::none) << result.message;
  EXPECT_EQ(result.subprotocol, "v1");
  EXPECT_TRUE(result.deflate.has_value());
}

TEST(ExtendedConnect, AnotherStatusOrAnUnofferedChoiceFails) {
  const ClientHandshake hs(basic());
  EXPECT_EQ(hs.check_response(h2_response(101)).error, ClientHandshakeError::bad_status);
  EXPECT_EQ(hs.check_response(h2_response(403)).error, ClientHandshakeError::bad_status);
  EXPECT_EQ(hs.check_response(h2_response(204)).error, ClientHandshakeError::bad_status);
  EXPECT_EQ(hs.check_response(h2_response(200, {{"sec-websocket-protocol", "v9"}})).error,
            ClientHandshakeError::unexpected_subprotocol);
  EXPECT_EQ(hs.check_response(h2_response(200, {{"sec-websocket-extensions", "x-foo"}})).error,
            ClientHandshakeError::unexpected_extension);
  // An HTTP/1.1 200 is still no 101.
  HttpHead h1 = h2_response(200);
  h1.version_major = 1;
  h1.version_minor = 1;
  EXPECT_EQ(hs.check_response(h1).error, ClientHandshakeError::bad_status);
}

}  // namespace
}  // namespace wsx::proto
