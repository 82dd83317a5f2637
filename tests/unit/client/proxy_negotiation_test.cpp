// The proxy conversations without sockets: what goes out, and every kind of reply coming back
// (good, refusing, malformed, split anywhere, with bytes after it).
#include "client/proxy_negotiation.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace wsx {
namespace {

using client_detail::make_http_connect;
using client_detail::make_socks5;
using client_detail::ProxyNegotiation;
using client_detail::TunnelStatus;
using client_detail::TunnelTarget;

Proxy proxy_of(const std::string& url) {
  ProxyParseResult parsed = parse_proxy_url(url);
  EXPECT_TRUE(parsed.ok()) << parsed.error;
  return parsed.ok() ? *parsed.proxy : Proxy{};
}

TunnelTarget target(std::string host, std::uint16_t port) {
  TunnelTarget t;
  t.host = std::move(host);
  t.port = port;
  return t;
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

TEST(HttpConnect, RequestNamesTheTargetAndCarriesBasicCredentials) {
  auto n = make_http_connect(proxy_of("http://alice:s%20cret@proxy:3128"),
                             target("example.com", 443), 16384);
  EXPECT_EQ(n->take_output(),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
            "Proxy-Authorization: Basic YWxpY2U6cyBjcmV0\r\n\r\n");  // alice:s cret
  EXPECT_EQ(n->take_output(), "");
  auto v6 = make_http_connect(proxy_of("proxy:3128"), target("::1", 9000), 16384);
  EXPECT_EQ(v6->take_output(), "CONNECT [::1]:9000 HTTP/1.1\r\nHost: [::1]:9000\r\n\r\n");
}

TEST(HttpConnect, TwoHundredOpensTheTunnelWhateverTheSplit) {
  const std::string reply = "HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n";
  for (std::size_t split = 0; split <= reply.size(); ++split) {
    auto n = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
    const TunnelStatus first = n->feed(reply.substr(0, split));
    if (split < reply.size()) {
      ASSERT_EQ(first, TunnelStatus::need_more) << split;
      EXPECT_EQ(n->feed(reply.substr(split)), TunnelStatus::established) << split;
    } else {
      EXPECT_EQ(first, TunnelStatus::established);
    }
  }
}

TEST(HttpConnect, InterimRepliesAreSkippedWhateverTheSplit) {
  // RFC 9110 §15.2: 1xx replies other than 101 are interim; the final reply decides.
  const std::string reply =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 200 Connection established\r\n\r\n";
  for (std::size_t split = 0; split <= reply.size(); ++split) {
    auto n = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
    TunnelStatus status = n->feed(reply.substr(0, split));
    if (split < reply.size()) {
      ASSERT_EQ(status, TunnelStatus::need_more) << split;
      status = n->feed(reply.substr(split));
    }
    EXPECT_EQ(status, TunnelStatus::established) << split << ": " << n->error().message;
  }
  auto refused = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
  ASSERT_EQ(refused->feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 No\r\n\r\n"),
            TunnelStatus::failed);
  EXPECT_EQ(refused->error().status, 403);

  auto endless = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
  TunnelStatus status = TunnelStatus::need_more;
  for (int i = 0; i < 100 && status == TunnelStatus::need_more; ++i)
    status = endless->feed("HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(status, TunnelStatus::failed);
  EXPECT_NE(endless->error().message.find("interim"), std::string::npos);
}

TEST(HttpConnect, RefusalsCarryTheStatusAndSayWhatToDo) {
  auto n = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
  ASSERT_EQ(n->feed("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                    "Content-Length: 5\r\n\r\nnope!"),
            TunnelStatus::failed);
  EXPECT_EQ(n->error().kind, ClientErrorKind::proxy_refused);
  EXPECT_EQ(n->error().status, 407);
  EXPECT_EQ(n->error().reason, "Proxy Authentication Required");
  EXPECT_NE(n->error().message.find("HTTP 407"), std::string::npos);
  EXPECT_NE(n->error().message.find("wants credentials"), std::string::npos);
  ASSERT_FALSE(n->error().headers.empty());
  EXPECT_EQ(n->error().headers[0].first, "Proxy-Authenticate");

  auto with = make_http_connect(proxy_of("http://u:p@p:1"), target("h", 80), 16384);
  ASSERT_EQ(with->feed("HTTP/1.1 407 No\r\n\r\n"), TunnelStatus::failed);
  EXPECT_NE(with->error().message.find("did not accept the credentials"), std::string::npos);

  for (int status : {403, 502, 101, 302}) {
    auto r = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
    ASSERT_EQ(r->feed("HTTP/1.1 " + std::to_string(status) + " X\r\n\r\n"), TunnelStatus::failed);
    EXPECT_EQ(r->error().kind, ClientErrorKind::proxy_refused);
    EXPECT_EQ(r->error().status, status);
  }
}

TEST(HttpConnect, MalformedOversizedOrOverlongRepliesFail) {
  auto garbage = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
  ASSERT_EQ(garbage->feed("SSH-2.0-OpenSSH\r\n\r\n"), TunnelStatus::failed);
  EXPECT_EQ(garbage->error().kind, ClientErrorKind::proxy_failed);
  EXPECT_NE(garbage->error().message.find("valid HTTP"), std::string::npos);

  auto huge = make_http_connect(proxy_of("http://p:1"), target("h", 80), 256);
  TunnelStatus status = huge->feed("HTTP/1.1 200 OK\r\n");
  for (int i = 0; i < 100 && status == TunnelStatus::need_more; ++i)
    status = huge->feed("X-Filler: aaaaaaaaaaaaaaaa\r\n");
  ASSERT_EQ(status, TunnelStatus::failed);
  EXPECT_EQ(huge->error().kind, ClientErrorKind::proxy_failed);

  auto extra = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
  ASSERT_EQ(extra->feed("HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101"), TunnelStatus::failed);
  EXPECT_NE(extra->error().message.find("12 unexpected bytes"), std::string::npos);

  auto early = make_http_connect(proxy_of("http://p:1"), target("h", 80), 16384);
  EXPECT_EQ(early->closed_early({}).kind, ClientErrorKind::proxy_failed);
  EXPECT_NE(early->closed_early({}).message.find("before answering CONNECT"), std::string::npos);
}

TEST(Socks5, NameGoesToTheProxyWithoutCredentials) {
  auto n = make_socks5(proxy_of("socks5h://p:1080"), target("example.com", 443));
  EXPECT_EQ(n->take_output(), bytes({5, 1, 0}));
  ASSERT_EQ(n->feed(bytes({5, 0})), TunnelStatus::need_more);
  EXPECT_EQ(n->take_output(), bytes({5, 1, 0, 3, 11}) + "example.com" + bytes({1, 0xBB}));
  // A reply with a domain-name bound address, split in two.
  ASSERT_EQ(n->feed(bytes({5, 0, 0, 3, 4}) + "ab"), TunnelStatus::need_more);
  EXPECT_EQ(n->feed("cd" + bytes({0, 80})), TunnelStatus::established);
}

TEST(Socks5, UsernamePasswordThenAnAddress) {
  TunnelTarget t = target("example.com", 9000);
  t.resolved = io::SocketAddress::parse("10.1.2.3", 9000);
  auto n = make_socks5(proxy_of("socks5://bob:pw@p:1080"), t);
  EXPECT_EQ(n->take_output(), bytes({5, 2, 0, 2}));
  ASSERT_EQ(n->feed(bytes({5, 2})), TunnelStatus::need_more);
  EXPECT_EQ(n->take_output(), bytes({1, 3}) + "bob" + bytes({2}) + "pw");
  ASSERT_EQ(n->feed(bytes({1, 0})), TunnelStatus::need_more);
  EXPECT_EQ(n->take_output(), bytes({5, 1, 0, 1, 10, 1, 2, 3, 0x23, 0x28}));
  EXPECT_EQ(n->feed(bytes({5, 0, 0, 4}) + std::string(16, '\0') + bytes({0, 1})),
            TunnelStatus::established);

  auto v6 = make_socks5(proxy_of("socks5h://p:1080"), target("::1", 80));
  v6->take_output();
  ASSERT_EQ(v6->feed(bytes({5, 0})), TunnelStatus::need_more);
  EXPECT_EQ(v6->take_output(), bytes({5, 1, 0, 4}) + std::string(15, '\0') + bytes({1, 0, 80}));
}

TEST(Socks5, ReplyCodesAreNamed) {
  const std::pair<int, const char*> codes[] = {
      {1, "general SOCKS server failure"}, {2, "connection not allowed by ruleset"},
      {3, "network unreachable"},          {4, "host unreachable"},
      {5, "connection refused"},           {6, "TTL expired"},
      {7, "command not supported"},        {8, "address type not supported"},
      {0x42, "unassigned reply code"}};
  for (const auto& [code, name] : codes) {
    auto n = make_socks5(proxy_of("socks5h://p:1080"), target("h", 80));
    n->feed(bytes({5, 0}));
    // Known from the first two bytes: no need to wait for the rest.
    ASSERT_EQ(n->feed(bytes({5, code})), TunnelStatus::failed) << code;
    EXPECT_EQ(n->error().kind, ClientErrorKind::proxy_refused);
    EXPECT_EQ(n->error().socks_reply, code);
    EXPECT_NE(n->error().message.find(name), std::string::npos) << n->error().message;
  }
}

TEST(Socks5, RefusalsAndProtocolErrors) {
  auto no_method = make_socks5(proxy_of("socks5h://p:1080"), target("h", 80));
  ASSERT_EQ(no_method->feed(bytes({5, 0xFF})), TunnelStatus::failed);
  EXPECT_EQ(no_method->error().kind, ClientErrorKind::proxy_refused);
  EXPECT_NE(no_method->error().message.find("none of the authentication methods"),
            std::string::npos);

  auto bad_password = make_socks5(proxy_of("socks5h://u:p@p:1080"), target("h", 80));
  bad_password->feed(bytes({5, 2}));
  ASSERT_EQ(bad_password->feed(bytes({1, 1})), TunnelStatus::failed);
  EXPECT_EQ(bad_password->error().kind, ClientErrorKind::proxy_refused);
  EXPECT_NE(bad_password->error().message.find("rejected the username/password"),
            std::string::npos);

  auto unoffered = make_socks5(proxy_of("socks5h://p:1080"), target("h", 80));
  ASSERT_EQ(unoffered->feed(bytes({5, 2})), TunnelStatus::failed);  // password, not offered
  EXPECT_EQ(unoffered->error().kind, ClientErrorKind::proxy_failed);

  auto http = make_socks5(proxy_of("socks5h://p:1080"), target("h", 80));
  ASSERT_EQ(http->feed("HTTP/1.1 400 Bad Request\r\n"), TunnelStatus::failed);
  EXPECT_NE(http->error().message.find("use http://"), std::string::npos);

  auto atyp = make_socks5(proxy_of("socks5h://p:1080"), target("h", 80));
  atyp->feed(bytes({5, 0}));
  ASSERT_EQ(atyp->feed(bytes({5, 0, 0, 9, 0})), TunnelStatus::failed);
  EXPECT_NE(atyp->error().message.find("address type 0x09"), std::string::npos);

  auto extra = make_socks5(proxy_of("socks5h://p:1080"), target("h", 80));
  ASSERT_EQ(extra->feed(bytes({5, 0, 5})), TunnelStatus::failed);  // a byte before our request
  EXPECT_NE(extra->error().message.find("1 bytes more"), std::string::npos);

  auto early = make_socks5(proxy_of("socks5h://p:1080"), target("h", 80));
  early->feed(bytes({5, 0}));
  EXPECT_NE(early->closed_early({}).message.find("before answering CONNECT"), std::string::npos);
}

TEST(ProxyUrl, SchemesPortsAndCredentials) {
  const Proxy plain = proxy_of("proxy.example");
  EXPECT_EQ(plain.kind, ProxyKind::http);
  EXPECT_EQ(plain.port, 1080);  // curl's default
  EXPECT_FALSE(plain.username);
  const Proxy socks = proxy_of("SOCKS5H://a%40b:p%3Ass@[::1]:9050/");
  EXPECT_EQ(socks.kind, ProxyKind::socks5h);
  EXPECT_EQ(socks.host, "::1");
  EXPECT_TRUE(socks.ipv6_literal);
  EXPECT_EQ(socks.port, 9050);
  EXPECT_EQ(*socks.username, "a@b");
  EXPECT_EQ(socks.password, "p:ss");
  EXPECT_EQ(socks.to_string(), "socks5h://a@b@[::1]:9050");  // never the password
  EXPECT_EQ(proxy_of("socks5://h:1").kind, ProxyKind::socks5);

  for (const char* bad :
       {"https://p:1", "socks4://p:1", "ftp://p", "http://p:1/path", "http://p:99999", "http://",
        "http://%zz@p", "socks5h://:pw@p", "http://p?x"}) {
    EXPECT_FALSE(parse_proxy_url(bad).ok()) << bad;
    EXPECT_FALSE(parse_proxy_url(bad).error.empty()) << bad;
  }
  EXPECT_FALSE(parse_proxy_url("socks5h://" + std::string(256, 'u') + ":p@h").ok());
}

Url url_of(const std::string& text) {
  return *parse_url(text).url;
}

TEST(ProxyEnvironment, SchemeDecidesTheVariableAsInCurl) {
  std::map<std::string, std::string> env = {{"https_proxy", "http://s:1"},
                                            {"HTTP_PROXY", "http://cgi:1"},
                                            {"ALL_PROXY", "socks5h://all:1"}};
  const auto lookup = [&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  EXPECT_EQ(proxy_from_environment(url_of("wss://example.com/"), lookup), "http://s:1");
  // HTTP_PROXY (upper case) is never read: a CGI request's "Proxy:" header sets it.
  EXPECT_EQ(proxy_from_environment(url_of("ws://example.com/"), lookup), "socks5h://all:1");
  env["http_proxy"] = "http://h:1";
  EXPECT_EQ(proxy_from_environment(url_of("ws://example.com/"), lookup), "http://h:1");
  env.erase("https_proxy");
  env["HTTPS_PROXY"] = "http://S:1";
  EXPECT_EQ(proxy_from_environment(url_of("wss://example.com/"), lookup), "http://S:1");
  env["NO_PROXY"] = "example.com";
  EXPECT_EQ(proxy_from_environment(url_of("wss://example.com/"), lookup), "");
  env["no_proxy"] = "other.org";  // the lower-case one wins
  EXPECT_EQ(proxy_from_environment(url_of("wss://example.com/"), lookup), "http://S:1");
  // Loopback is not special, as in curl.
  EXPECT_EQ(proxy_from_environment(url_of("wss://127.0.0.1/"), lookup), "http://S:1");
  EXPECT_EQ(proxy_from_environment(url_of("wss://x/"), [](const char*) { return nullptr; }), "");
}

TEST(ProxyEnvironment, NoProxyEntries) {
  const auto matches = [](const char* list, const char* url) {
    return no_proxy_matches(list, url_of(url));
  };
  EXPECT_TRUE(matches("*", "ws://anything/"));
  EXPECT_TRUE(matches("example.com", "ws://example.com/"));
  EXPECT_TRUE(matches("example.com", "ws://ws.example.com/"));
  EXPECT_TRUE(matches(".example.com", "ws://example.com/"));
  EXPECT_TRUE(matches(".Example.COM", "ws://a.b.example.com/"));
  EXPECT_FALSE(matches("example.com", "ws://badexample.com/"));
  EXPECT_FALSE(matches("ws.example.com", "ws://example.com/"));
  EXPECT_TRUE(matches("foo, bar example.com", "ws://example.com/"));  // commas and spaces
  EXPECT_FALSE(matches("*.", "ws://example.com/"));
  EXPECT_FALSE(matches("", "ws://example.com/"));
  // Ports: only that port (the URL's, or the scheme's default).
  EXPECT_TRUE(matches("example.com:8080", "ws://example.com:8080/"));
  EXPECT_FALSE(matches("example.com:8080", "ws://example.com/"));
  EXPECT_TRUE(matches("example.com:443", "wss://example.com/"));
  // IP literals and ranges, never against names (nothing is resolved).
  EXPECT_TRUE(matches("127.0.0.1", "ws://127.0.0.1:9000/"));
  EXPECT_FALSE(matches("127.0.0.1", "ws://localhost:9000/"));
  EXPECT_FALSE(matches("localhost", "ws://127.0.0.1/"));
  EXPECT_TRUE(matches("10.0.0.0/8", "ws://10.200.3.4/"));
  EXPECT_FALSE(matches("10.0.0.0/8", "ws://11.0.0.1/"));
  EXPECT_TRUE(matches("192.168.1.0/23", "ws://192.168.0.9/"));
  EXPECT_TRUE(matches("::1", "ws://[::1]/"));
  EXPECT_TRUE(matches("[0::1]", "ws://[::1]/"));
  EXPECT_TRUE(matches("[::1]:9000", "ws://[::1]:9000/"));
  EXPECT_FALSE(matches("[::1]:9000", "ws://[::1]:9001/"));
  EXPECT_TRUE(matches("fd00::/8", "ws://[fd12::5]/"));
  EXPECT_FALSE(matches("fd00::/8", "ws://10.0.0.1/"));
  EXPECT_FALSE(matches("10.0.0.0/99", "ws://10.0.0.1/"));
  EXPECT_FALSE(matches("[::1", "ws://[::1]/"));
}

}  // namespace
}  // namespace wsx
