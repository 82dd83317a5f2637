// The client through a real proxy on loopback (tests/support/test_proxy.hpp): HTTP CONNECT and
// SOCKS5, ws:// and wss:// (TLS inside the tunnel, verified against the target), credentials
// right and wrong, and proxies that refuse, break the protocol, stay silent or are not there.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "echo_once_client.hpp"
#include "loop_watchdog.hpp"
#include "test_proxy.hpp"
#include "test_tls_options.hpp"
#include "test_ws_server.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::TestProxy;
using test::TestProxyKind;
using test::TestProxyOptions;

// Sends "through the tunnel", expects it back, closes; records errors and tunnel traces.
struct Outcome {
  bool echoed = false;
  std::vector<ClientError> errors;
  std::vector<std::string> tunnels;
};

Outcome run(io::EventLoop& loop, ClientOptions options) {
  Outcome outcome;
  options.connect_timeout = 5s;
  if (options.handshake_timeout == 10s) options.handshake_timeout = 5s;
  options.handshake_trace.proxy = [&](std::string_view summary) {
    outcome.tunnels.emplace_back(summary);
  };
  test::EchoOnce echo = test::echo_once(loop, options, "through the tunnel");
  outcome.echoed = echo.echoed;
  outcome.errors = std::move(echo.errors);
  return outcome;
}

ClientOptions trusting_test_ca(std::string url) {
  ClientOptions options;
  options.url = std::move(url);
  test::trust_test_ca_only(options.tls);
  return options;
}

std::string port_of(const test::TestServer& server) {
  return std::to_string(server.port());
}

TEST(ClientProxy, HttpConnectCarriesWsAndWss) {
  for (const bool secure : {false, true}) {
    io::EventLoop loop;
    test::arm_watchdog(loop);
    test::TestServerOptions server_options;
    if (secure) server_options.tls = test::test_server_tls();
    test::TestServer server(loop, server_options);
    TestProxy proxy({});
    ClientOptions options = trusting_test_ca((secure ? "wss://localhost:" : "ws://localhost:") +
                                             port_of(server) + "/chat");
    options.proxy = proxy.url();
    const Outcome outcome = run(loop, options);
    ASSERT_TRUE(outcome.errors.empty()) << outcome.errors[0].message;
    EXPECT_TRUE(outcome.echoed) << secure;
    ASSERT_EQ(proxy.requests().size(), 1u);
    EXPECT_TRUE(proxy.requests()[0].starts_with("CONNECT localhost:" + port_of(server) +
                                                " HTTP/1.1\r\nHost: localhost:" + port_of(server)))
        << proxy.requests()[0];
    EXPECT_EQ(proxy.requests()[0].find("Proxy-Authorization"), std::string::npos);
    // The WebSocket request inside the tunnel names the target, not the proxy.
    EXPECT_NE(server.last_request.find("Host: localhost:" + port_of(server)), std::string::npos);
    ASSERT_EQ(outcome.tunnels.size(), 1u);
    EXPECT_NE(outcome.tunnels[0].find("HTTP CONNECT"), std::string::npos);
  }
}

TEST(ClientProxy, HttpCredentialsRightAndWrong) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  TestProxyOptions proxy_options;
  proxy_options.credentials = {{"alice", "p@ss word"}};
  TestProxy proxy(proxy_options);
  ClientOptions options = trusting_test_ca("ws://127.0.0.1:" + port_of(server) + "/");
  options.proxy = proxy.url("http", "alice:p%40ss%20word");
  EXPECT_TRUE(run(loop, options).echoed);

  options.proxy = proxy.url("http", "alice:wrong");
  const Outcome wrong = run(loop, options);
  ASSERT_EQ(wrong.errors.size(), 1u);
  EXPECT_EQ(wrong.errors[0].kind, ClientErrorKind::proxy_refused);
  EXPECT_EQ(wrong.errors[0].status, 407);
  EXPECT_NE(wrong.errors[0].message.find("did not accept the credentials"), std::string::npos);
  EXPECT_FALSE(wrong.errors[0].will_retry);

  options.proxy = proxy.url("http");
  const Outcome none = run(loop, options);
  ASSERT_EQ(none.errors.size(), 1u);
  EXPECT_NE(none.errors[0].message.find("wants credentials"), std::string::npos);
}

TEST(ClientProxy, HttpRefusalsCarryTheStatus) {
  for (const int status : {403, 502}) {
    io::EventLoop loop;
    test::arm_watchdog(loop);
    TestProxyOptions proxy_options;
    proxy_options.http_status = status;
    TestProxy proxy(proxy_options);
    ClientOptions options = trusting_test_ca("ws://127.0.0.1:9/");
    options.proxy = proxy.url();
    const Outcome outcome = run(loop, options);
    ASSERT_EQ(outcome.errors.size(), 1u);
    EXPECT_EQ(outcome.errors[0].kind, ClientErrorKind::proxy_refused);
    EXPECT_EQ(outcome.errors[0].status, status);
    EXPECT_NE(outcome.errors[0].message.find("HTTP " + std::to_string(status)), std::string::npos);
  }
}

TEST(ClientProxy, Socks5hSendsTheNameAndCarriesWsAndWss) {
  for (const bool secure : {false, true}) {
    io::EventLoop loop;
    test::arm_watchdog(loop);
    test::TestServerOptions server_options;
    if (secure) server_options.tls = test::test_server_tls();
    test::TestServer server(loop, server_options);
    TestProxy proxy({TestProxyKind::socks5});
    ClientOptions options =
        trusting_test_ca((secure ? "wss://localhost:" : "ws://localhost:") + port_of(server) + "/");
    options.proxy = proxy.url("socks5h");
    const Outcome outcome = run(loop, options);
    ASSERT_TRUE(outcome.errors.empty()) << outcome.errors[0].message;
    EXPECT_TRUE(outcome.echoed);
    ASSERT_EQ(proxy.requests().size(), 1u);
    EXPECT_EQ(proxy.requests()[0], "socks5 atyp 3 localhost:" + port_of(server));
  }
}

TEST(ClientProxy, Socks5ResolvesHereAndSendsTheAddress) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  TestProxy proxy({TestProxyKind::socks5});
  ClientOptions options = trusting_test_ca("ws://localhost:" + port_of(server) + "/");
  options.proxy = proxy.url("socks5");
  const Outcome outcome = run(loop, options);
  ASSERT_TRUE(outcome.errors.empty()) << outcome.errors[0].message;
  ASSERT_EQ(proxy.requests().size(), 1u);
  // localhost resolved here: IPv4 (atyp 1) or IPv6 (atyp 4), never the name.
  EXPECT_TRUE(proxy.requests()[0].starts_with("socks5 atyp 1 127.0.0.1:") ||
              proxy.requests()[0].starts_with("socks5 atyp 4 ::1:"))
      << proxy.requests()[0];
}

TEST(ClientProxy, TlsInsideTheTunnelIsVerifiedAgainstTheTarget) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.tls = test::test_server_tls();
  test::TestServer server(loop, server_options);
  TestProxy proxy({TestProxyKind::socks5});
  // The proxy takes every name to 127.0.0.1: the server is reached, but its certificate does
  // not name "elsewhere.test", the host the client asked for.
  ClientOptions options = trusting_test_ca("wss://elsewhere.test:" + port_of(server) + "/");
  options.proxy = proxy.url("socks5h");
  const Outcome mismatch = run(loop, options);
  ASSERT_EQ(mismatch.errors.size(), 1u);
  EXPECT_EQ(mismatch.errors[0].kind, ClientErrorKind::tls_failed);
  EXPECT_NE(mismatch.errors[0].message.find("mismatch"), std::string::npos)
      << mismatch.errors[0].message;

  test::TestServerOptions other;
  other.tls = test::test_server_tls(/*other_ca=*/true);
  test::TestServer untrusted(loop, other);
  options.url = "wss://localhost:" + port_of(untrusted) + "/";
  const Outcome unknown_ca = run(loop, options);
  ASSERT_EQ(unknown_ca.errors.size(), 1u);
  EXPECT_EQ(unknown_ca.errors[0].kind, ClientErrorKind::tls_failed);
}

TEST(ClientProxy, Socks5CredentialsRightAndWrong) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  TestProxyOptions proxy_options{TestProxyKind::socks5};
  proxy_options.credentials = {{"bob", "secret"}};
  TestProxy proxy(proxy_options);
  ClientOptions options = trusting_test_ca("ws://127.0.0.1:" + port_of(server) + "/");
  options.proxy = proxy.url("socks5h", "bob:secret");
  EXPECT_TRUE(run(loop, options).echoed);

  options.proxy = proxy.url("socks5h", "bob:nope");
  Outcome wrong = run(loop, options);
  ASSERT_EQ(wrong.errors.size(), 1u);
  EXPECT_EQ(wrong.errors[0].kind, ClientErrorKind::proxy_refused);
  EXPECT_NE(wrong.errors[0].message.find("rejected the username/password"), std::string::npos);

  options.proxy = proxy.url("socks5h");
  Outcome none = run(loop, options);
  ASSERT_EQ(none.errors.size(), 1u);
  EXPECT_NE(none.errors[0].message.find("none of the authentication methods"), std::string::npos);
}

TEST(ClientProxy, Socks5ReplyCodeIsReported) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  TestProxyOptions proxy_options{TestProxyKind::socks5};
  proxy_options.socks_reply = 2;
  TestProxy proxy(proxy_options);
  ClientOptions options = trusting_test_ca("ws://example.test/");
  options.proxy = proxy.url("socks5h");
  const Outcome outcome = run(loop, options);
  ASSERT_EQ(outcome.errors.size(), 1u);
  EXPECT_EQ(outcome.errors[0].kind, ClientErrorKind::proxy_refused);
  EXPECT_EQ(outcome.errors[0].socks_reply, 2);
  EXPECT_NE(outcome.errors[0].message.find("connection not allowed by ruleset"), std::string::npos);
}

TEST(ClientProxy, BrokenSilentAndMissingProxies) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  TestProxyOptions garbage;
  garbage.raw_reply = std::string(20000, 'x');
  TestProxy noisy(garbage);
  ClientOptions options = trusting_test_ca("ws://example.test/");
  options.proxy = noisy.url();
  Outcome outcome = run(loop, options);
  ASSERT_EQ(outcome.errors.size(), 1u);
  EXPECT_EQ(outcome.errors[0].kind, ClientErrorKind::proxy_failed);

  TestProxyOptions closes{TestProxyKind::socks5};
  closes.raw_reply = "";  // says nothing and closes
  TestProxy closing(closes);
  options.proxy = closing.url("socks5h");
  outcome = run(loop, options);
  ASSERT_EQ(outcome.errors.size(), 1u);
  EXPECT_EQ(outcome.errors[0].kind, ClientErrorKind::proxy_failed);
  EXPECT_NE(outcome.errors[0].message.find("closed the connection"), std::string::npos);

  TestProxyOptions silent;
  silent.silent = true;
  TestProxy mute(silent);
  options.proxy = mute.url();
  options.handshake_timeout = 300ms;
  outcome = run(loop, options);
  ASSERT_EQ(outcome.errors.size(), 1u);
  EXPECT_EQ(outcome.errors[0].kind, ClientErrorKind::proxy_failed);
  EXPECT_NE(outcome.errors[0].message.find("did not open the tunnel within 300 ms"),
            std::string::npos);

  // Nobody listens on the port the proxy had.
  std::string gone_url;
  {
    TestProxy gone({});
    gone_url = gone.url();
  }
  options.proxy = gone_url;
  outcome = run(loop, options);
  ASSERT_EQ(outcome.errors.size(), 1u);
  EXPECT_EQ(outcome.errors[0].kind, ClientErrorKind::proxy_unreachable);
  EXPECT_NE(outcome.errors[0].message.find("is unreachable"), std::string::npos);

  options.proxy = "http://no-such-proxy.invalid:3128";
  outcome = run(loop, options);
  ASSERT_EQ(outcome.errors.size(), 1u);
  EXPECT_EQ(outcome.errors[0].kind, ClientErrorKind::proxy_unreachable);
  EXPECT_NE(outcome.errors[0].message.find("cannot resolve the proxy"), std::string::npos);
}

TEST(ClientProxy, ProxyForIsAskedForEveryHop) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions secure_options;
  secure_options.tls = test::test_server_tls();
  test::TestServer secure(loop, secure_options);
  test::TestServerOptions plain_options;
  const std::string next = "wss://localhost:" + port_of(secure) + "/";
  plain_options.respond = [&](const std::string&) -> std::optional<std::string> {
    return "HTTP/1.1 301 Moved\r\nLocation: " + next + "\r\nContent-Length: 0\r\n\r\n";
  };
  test::TestServer plain(loop, plain_options);
  TestProxy proxy({});
  std::vector<std::string> asked;
  ClientOptions options = trusting_test_ca(plain.url("/"));
  options.follow_redirects = true;
  options.proxy = "http://not-used.invalid:1";  // proxy_for wins
  options.proxy_for = [&](const Url& target) {
    asked.push_back(target.to_string());
    return target.secure ? proxy.url() : std::string();
  };
  const Outcome outcome = run(loop, options);
  ASSERT_TRUE(outcome.errors.empty()) << outcome.errors[0].message;
  EXPECT_TRUE(outcome.echoed);
  EXPECT_EQ(asked, (std::vector<std::string>{plain.url("/"), next}));
  ASSERT_EQ(proxy.requests().size(), 1u);  // the first hop went direct
  EXPECT_TRUE(proxy.requests()[0].starts_with("CONNECT localhost:" + port_of(secure) + " "));
  EXPECT_EQ(plain.accepted, 1);
}

TEST(ClientProxy, BadProxyUrlThrowsFromConnect) {
  io::EventLoop loop;
  ClientOptions options;
  options.url = "ws://example.test/";
  options.proxy = "ftp://p";
  Client client(loop, options, {});
  try {
    client.connect();
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("proxy: unknown proxy scheme"), std::string::npos);
  }
}

}  // namespace
}  // namespace wsx
