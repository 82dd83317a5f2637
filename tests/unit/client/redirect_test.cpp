// Redirects of the handshake: Location resolution (RFC 3986 §5.2) and the rules for the next
// hop, then the client following real 3xx answers from an in-process server.
#include "client/redirect.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "echo_once_client.hpp"
#include "loop_watchdog.hpp"
#include "test_tls_options.hpp"
#include "test_ws_server.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using client_detail::resolve_location;

std::string resolved(const std::string& base, const std::string& location) {
  const UrlParseResult result = resolve_location(*parse_url(base).url, location);
  return result.ok() ? result.url->to_string() : "error: " + result.error;
}

TEST(RedirectLocation, RelativeAndAbsoluteReferences) {
  const std::string base = "ws://example.com:8080/a/b/c?q=1";
  EXPECT_EQ(resolved(base, "/x"), "ws://example.com:8080/x");
  EXPECT_EQ(resolved(base, "d"), "ws://example.com:8080/a/b/d");
  EXPECT_EQ(resolved(base, "../d?z"), "ws://example.com:8080/a/d?z");
  EXPECT_EQ(resolved(base, "../../../../d"), "ws://example.com:8080/d");
  EXPECT_EQ(resolved(base, "./"), "ws://example.com:8080/a/b/");
  EXPECT_EQ(resolved(base, "?other"), "ws://example.com:8080/a/b/c?other");
  EXPECT_EQ(resolved(base, "#frag"), "ws://example.com:8080/a/b/c?q=1");
  EXPECT_EQ(resolved(base, "//other.org/p"), "ws://other.org/p");
  EXPECT_EQ(resolved(base, "wss://other.org/p#f"), "wss://other.org/p");
  EXPECT_EQ(resolved(base, "https://other.org:444"), "wss://other.org:444/");
  EXPECT_EQ(resolved(base, "HTTP://other.org/./p/../q"), "ws://other.org/q");
  EXPECT_EQ(resolved("wss://h/", "//[::1]:9/"), "wss://[::1]:9/");
  EXPECT_EQ(resolved(base, "ftp://other.org/"),
            "error: it leads to a ftp: URL, not ws(s):// or http(s)://");
  EXPECT_TRUE(resolved(base, "ws://user:pw@other.org/").starts_with("error: "));
  EXPECT_TRUE(resolved(base, "").starts_with("error: "));
  EXPECT_TRUE(resolved(base, "ws:/nohost").starts_with("error: "));
}

TEST(RedirectLocation, OriginsAndHeadersForTheNextHop) {
  const Url a = *parse_url("ws://example.com/x").url;
  EXPECT_TRUE(client_detail::same_origin(a, *parse_url("ws://example.com:80/y").url));
  EXPECT_FALSE(client_detail::same_origin(a, *parse_url("wss://example.com/").url));
  EXPECT_FALSE(client_detail::same_origin(a, *parse_url("ws://example.com:81/").url));
  EXPECT_FALSE(client_detail::same_origin(a, *parse_url("ws://other.com/").url));
  const HeaderList headers = {{"authorization", "Basic x"}, {"X-Keep", "1"}, {"Cookie", "c=1"}};
  EXPECT_EQ(client_detail::headers_for_next_hop(headers, true), headers);
  EXPECT_EQ(client_detail::headers_for_next_hop(headers, false), (HeaderList{{"X-Keep", "1"}}));
  EXPECT_TRUE(client_detail::is_redirect_status(307));
  EXPECT_FALSE(client_detail::is_redirect_status(304));
  EXPECT_FALSE(client_detail::is_redirect_status(300));
}

std::string redirect(int status, const std::string& location) {
  return "HTTP/1.1 " + std::to_string(status) + " Moved\r\nLocation: " + location +
         "\r\nContent-Length: 0\r\n\r\n";
}

std::string path_of(const std::string& head) {
  const std::size_t start = head.find(' ') + 1;
  return head.substr(start, head.find(' ', start) - start);
}

struct Hops {
  bool echoed = false;
  std::vector<ClientError> errors;
  std::vector<std::string> hops;  // "301 ws://..."
  std::vector<std::string> requests;
};

Hops run(io::EventLoop& loop, ClientOptions options) {
  Hops result;
  options.connect_timeout = 5s;
  options.handshake_timeout = 5s;
  options.handshake_trace.redirect = [&](int status, std::string_view url) {
    result.hops.push_back(std::to_string(status) + " " + std::string(url));
  };
  options.handshake_trace.request = [&](std::string_view head) {
    result.requests.emplace_back(head);
  };
  test::EchoOnce echo = test::echo_once(loop, options, "hi");
  result.echoed = echo.echoed;
  result.errors = std::move(echo.errors);
  return result;
}

// /hopN answers 301 or 307 to /hop(N-1) alternately; /hop0 accepts.
test::TestServerOptions chain_server() {
  test::TestServerOptions options;
  options.respond = [](const std::string& head) -> std::optional<std::string> {
    const std::string path = path_of(head);
    if (!path.starts_with("/hop") || path == "/hop0") return std::nullopt;
    const int n = std::stoi(path.substr(4));
    return redirect(n % 2 == 0 ? 307 : 301, "hop" + std::to_string(n - 1));
  };
  return options;
}

TEST(ClientRedirect, FollowsA301And307ChainUpToTheLimit) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, chain_server());
  ClientOptions options;
  options.url = server.url("/hop3");
  options.follow_redirects = true;
  const Hops ok = run(loop, options);
  ASSERT_TRUE(ok.errors.empty()) << ok.errors[0].message;
  EXPECT_TRUE(ok.echoed);
  ASSERT_EQ(ok.hops.size(), 3u);
  EXPECT_EQ(ok.hops[0], "301 " + server.url("/hop2"));
  EXPECT_EQ(ok.hops[1], "307 " + server.url("/hop1"));
  EXPECT_EQ(ok.hops[2], "301 " + server.url("/hop0"));
  EXPECT_EQ(ok.requests.size(), 4u);  // each hop's request is traced

  options.max_redirects = 2;
  const Hops limited = run(loop, options);
  ASSERT_EQ(limited.errors.size(), 1u);
  EXPECT_EQ(limited.errors[0].kind, ClientErrorKind::redirect_failed);
  EXPECT_EQ(limited.errors[0].status, 301);  // the third redirect, from /hop1
  EXPECT_NE(limited.errors[0].message.find("too many redirects (2 followed"), std::string::npos)
      << limited.errors[0].message;
  EXPECT_FALSE(limited.errors[0].will_retry);
}

TEST(ClientRedirect, NotFollowedUnlessAskedAndTheLocationIsSaid) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, chain_server());
  ClientOptions options;
  options.url = server.url("/hop1");
  const Hops result = run(loop, options);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].kind, ClientErrorKind::handshake_refused);
  EXPECT_EQ(result.errors[0].status, 301);
  EXPECT_NE(result.errors[0].message.find("redirect to " + server.url("/hop0") + ", not followed"),
            std::string::npos)
      << result.errors[0].message;
  EXPECT_TRUE(result.hops.empty());
}

TEST(ClientRedirect, NeverFromWssToWs) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer plain(loop, {});
  test::TestServerOptions secure_options;
  secure_options.tls = test::test_server_tls();
  const std::string downgrade = plain.url("/");
  secure_options.respond = [&](const std::string&) -> std::optional<std::string> {
    return redirect(302, downgrade);
  };
  test::TestServer secure(loop, secure_options);
  ClientOptions options;
  options.url = secure.url("/");
  test::trust_test_ca_only(options.tls);
  options.follow_redirects = true;
  const Hops result = run(loop, options);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].kind, ClientErrorKind::redirect_failed);
  EXPECT_NE(result.errors[0].message.find("from wss:// to ws://"), std::string::npos);
  EXPECT_EQ(plain.accepted, 0);
}

TEST(ClientRedirect, WsToWssIsFollowed) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions secure_options;
  secure_options.tls = test::test_server_tls();
  test::TestServer secure(loop, secure_options);
  test::TestServerOptions plain_options;
  const std::string upgrade = secure.url("/");
  plain_options.respond = [&](const std::string&) -> std::optional<std::string> {
    return redirect(308, upgrade);
  };
  test::TestServer plain(loop, plain_options);
  ClientOptions options;
  options.url = plain.url("/");
  test::trust_test_ca_only(options.tls);
  options.follow_redirects = true;
  const Hops result = run(loop, options);
  ASSERT_TRUE(result.errors.empty()) << result.errors[0].message;
  EXPECT_TRUE(result.echoed);
}

TEST(ClientRedirect, AuthorizationAndCookieDroppedAcrossOriginsOnly) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer other(loop, {});
  test::TestServerOptions first_options;
  const std::string elsewhere = other.url("/end");
  first_options.respond = [&](const std::string& head) -> std::optional<std::string> {
    if (path_of(head) == "/start") return redirect(302, "/same");  // same origin
    return redirect(303, elsewhere);                               // another port
  };
  test::TestServer first(loop, first_options);
  ClientOptions options;
  options.url = first.url("/start");
  options.follow_redirects = true;
  options.extra_headers = {{"Authorization", "Bearer t0ken"}, {"Cookie", "s=1"}, {"X-Kept", "y"}};
  const Hops result = run(loop, options);
  ASSERT_TRUE(result.errors.empty()) << result.errors[0].message;
  EXPECT_TRUE(result.echoed);
  ASSERT_EQ(result.requests.size(), 3u);
  EXPECT_NE(result.requests[1].find("Authorization: Bearer t0ken"), std::string::npos);
  EXPECT_NE(result.requests[1].find("Cookie: s=1"), std::string::npos);
  EXPECT_EQ(other.last_request.find("Authorization"), std::string::npos) << other.last_request;
  EXPECT_EQ(other.last_request.find("Cookie"), std::string::npos);
  EXPECT_NE(other.last_request.find("X-Kept: y"), std::string::npos);
}

TEST(ClientRedirect, MissingOrBadLocation) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.respond = [](const std::string& head) -> std::optional<std::string> {
    if (path_of(head) == "/none")
      return std::string("HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n");
    return redirect(301, "gopher://x/");
  };
  test::TestServer server(loop, server_options);
  ClientOptions options;
  options.follow_redirects = true;
  options.url = server.url("/none");
  Hops result = run(loop, options);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].kind, ClientErrorKind::redirect_failed);
  EXPECT_NE(result.errors[0].message.find("no Location"), std::string::npos);
  options.url = server.url("/bad");
  result = run(loop, options);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].kind, ClientErrorKind::redirect_failed);
  EXPECT_NE(result.errors[0].message.find("gopher"), std::string::npos);
}

}  // namespace
}  // namespace wsx
