#include "wsx/url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace wsx {
namespace {

Url parsed(std::string_view text) {
  const UrlParseResult result = parse_url(text);
  EXPECT_TRUE(result.ok()) << text << ": " << result.error;
  return result.url.value_or(Url{});
}

std::string error_of(std::string_view text) {
  const UrlParseResult result = parse_url(text);
  EXPECT_FALSE(result.ok()) << text << " was accepted";
  return result.error;
}

TEST(Url, PlainWithDefaults) {
  const Url url = parsed("ws://example.com");
  EXPECT_FALSE(url.secure);
  EXPECT_EQ(url.host, "example.com");
  EXPECT_EQ(url.port, 80);
  EXPECT_FALSE(url.explicit_port);
  EXPECT_EQ(url.path, "/");
  EXPECT_FALSE(url.has_query);
  EXPECT_EQ(url.target(), "/");
  EXPECT_EQ(url.to_string(), "ws://example.com/");
}

TEST(Url, SecureDefaultPortIs443) {
  const Url url = parsed("wss://example.com/chat");
  EXPECT_TRUE(url.secure);
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.path, "/chat");
  EXPECT_EQ(url.authority(), "example.com");
}

TEST(Url, SchemeAndHostAreCaseInsensitive) {
  const Url url = parsed("WSS://Example.COM:8443/Path");
  EXPECT_TRUE(url.secure);
  EXPECT_EQ(url.host, "example.com");
  EXPECT_EQ(url.port, 8443);
  EXPECT_EQ(url.path, "/Path");  // the path keeps its case
  EXPECT_EQ(url.to_string(), "wss://example.com:8443/Path");
}

TEST(Url, PortPathAndQuery) {
  const Url url = parsed("ws://127.0.0.1:9001/runCase?case=1&agent=wsx");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 9001);
  EXPECT_TRUE(url.explicit_port);
  EXPECT_EQ(url.path, "/runCase");
  EXPECT_EQ(url.query, "case=1&agent=wsx");
  EXPECT_EQ(url.target(), "/runCase?case=1&agent=wsx");
}

TEST(Url, QueryWithoutPath) {
  const Url url = parsed("ws://host?x=1");
  EXPECT_EQ(url.path, "/");
  EXPECT_EQ(url.target(), "/?x=1");
}

TEST(Url, EmptyQueryIsKept) {
  const Url url = parsed("ws://host/a?");
  EXPECT_TRUE(url.has_query);
  EXPECT_EQ(url.target(), "/a?");
}

TEST(Url, ExplicitDefaultPortIsOmittedFromAuthority) {
  EXPECT_EQ(parsed("ws://h:80/").authority(), "h");
  EXPECT_EQ(parsed("wss://h:443/").authority(), "h");
  EXPECT_EQ(parsed("ws://h:443/").authority(), "h:443");
}

TEST(Url, EmptyPortMeansDefault) {
  const Url url = parsed("ws://host:/x");
  EXPECT_EQ(url.port, 80);
  EXPECT_FALSE(url.explicit_port);
}

TEST(Url, Ipv6Literals) {
  Url url = parsed("ws://[::1]:8080/echo");
  EXPECT_TRUE(url.ipv6_literal);
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 8080);
  EXPECT_EQ(url.authority(), "[::1]:8080");
  url = parsed("wss://[2001:DB8::1]");
  EXPECT_EQ(url.host, "2001:db8::1");
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.to_string(), "wss://[2001:db8::1]/");
  EXPECT_EQ(parsed("ws://[::ffff:127.0.0.1]/").host, "::ffff:127.0.0.1");
}

TEST(Url, NamesWithUnderscoresDigitsAndTrailingDot) {
  EXPECT_EQ(parsed("ws://my_host-1.internal./").host, "my_host-1.internal.");
  EXPECT_EQ(parsed("ws://1and1.com/").host, "1and1.com");
  EXPECT_EQ(parsed("ws://localhost:1/").host, "localhost");
}

TEST(Url, SpacesAndNonAsciiArePercentEncoded) {
  const Url url = parsed("ws://h/a b/\xc3\xa9?q=x y");
  EXPECT_EQ(url.path, "/a%20b/%C3%A9");
  EXPECT_EQ(url.query, "q=x%20y");
}

TEST(Url, ValidPercentEscapesAreKept) {
  EXPECT_EQ(parsed("ws://h/a%2Fb?c=%41").target(), "/a%2Fb?c=%41");
}

TEST(Url, RejectsOtherSchemes) {
  EXPECT_NE(error_of("http://example.com/").find("unsupported scheme \"http\""), std::string::npos);
  EXPECT_NE(error_of("wsx://example.com/").find("ws:// or wss://"), std::string::npos);
  EXPECT_NE(error_of("example.com/chat").find("not a URL"), std::string::npos);
  EXPECT_NE(error_of("ws:/example.com").find("not a URL"), std::string::npos);
  EXPECT_NE(error_of("").find("not a URL"), std::string::npos);
}

TEST(Url, RejectsMissingHost) {
  EXPECT_NE(error_of("ws://").find("no host"), std::string::npos);
  EXPECT_NE(error_of("ws:///path").find("no host"), std::string::npos);
  EXPECT_NE(error_of("ws://:80/").find("no host"), std::string::npos);
}

TEST(Url, RejectsFragment) {
  EXPECT_NE(error_of("ws://h/p#frag").find("fragment"), std::string::npos);
  EXPECT_NE(error_of("ws://h#").find("fragment"), std::string::npos);
}

TEST(Url, RejectsUserInfo) {
  EXPECT_NE(error_of("ws://user:pw@h/").find("user information"), std::string::npos);
}

TEST(Url, RejectsBadPorts) {
  EXPECT_NE(error_of("ws://h:0/").find("port 0"), std::string::npos);
  EXPECT_NE(error_of("ws://h:65536/").find("above 65535"), std::string::npos);
  EXPECT_NE(error_of("ws://h:99999999999999999999/").find("above 65535"), std::string::npos);
  EXPECT_NE(error_of("ws://h:8o/").find("not a number"), std::string::npos);
  EXPECT_NE(error_of("ws://h:-1/").find("not a number"), std::string::npos);
  EXPECT_EQ(parsed("ws://h:65535/").port, 65535);
}

TEST(Url, RejectsBadIpv6) {
  EXPECT_NE(error_of("ws://::1/").find("brackets"), std::string::npos);
  EXPECT_NE(error_of("ws://[::1/").find("closing ']'"), std::string::npos);
  EXPECT_NE(error_of("ws://[:::1]/").find("not a valid IPv6"), std::string::npos);
  EXPECT_NE(error_of("ws://[]/").find("not a valid IPv6"), std::string::npos);
  EXPECT_NE(error_of("ws://[example.com]/").find("not a valid IPv6"), std::string::npos);
  EXPECT_NE(error_of("ws://[::1]x/").find("after the IPv6"), std::string::npos);
  EXPECT_NE(error_of("ws://[fe80::1%25eth0]/").find("zone"), std::string::npos);
}

TEST(Url, RejectsBadHostNames) {
  EXPECT_NE(error_of("ws://exa mple.com/").find("' '"), std::string::npos);
  EXPECT_NE(error_of("ws://ex%41mple.com/").find("percent-encoding"), std::string::npos);
  EXPECT_NE(error_of("ws://a..b/").find("empty label"), std::string::npos);
  EXPECT_NE(error_of("ws://.a/").find("empty label"), std::string::npos);
  EXPECT_NE(error_of("ws://-a.com/").find("'-'"), std::string::npos);
  EXPECT_NE(error_of("ws://" + std::string(64, 'a') + ".com/").find("63"), std::string::npos);
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  long_name += "com";
  EXPECT_NE(error_of("ws://" + long_name + "/").find("253"), std::string::npos);
}

// The error names what is wrong without printing a lone byte of a UTF-8 character (invalid
// UTF-8 on the terminal) or a control character.
TEST(Url, NonAsciiOrControlHostIsNamedNotPrinted) {
  const std::string non_ascii = error_of("ws://\xc3\xbc.localhost:8080/");
  EXPECT_NE(non_ascii.find("not ASCII"), std::string::npos) << non_ascii;
  EXPECT_NE(non_ascii.find("xn--"), std::string::npos) << non_ascii;
  EXPECT_EQ(non_ascii.find('\xc3'), std::string::npos) << non_ascii;
  const std::string control = error_of("ws://a\x01b/");
  EXPECT_NE(control.find("control character"), std::string::npos) << control;
  EXPECT_EQ(control.find('\x01'), std::string::npos) << control;
}

TEST(Url, RejectsMalformedIpv4) {
  EXPECT_NE(error_of("ws://256.0.0.1/").find("IPv4"), std::string::npos);
  EXPECT_NE(error_of("ws://127.1/").find("IPv4"), std::string::npos);
  EXPECT_NE(error_of("ws://127.0.0.01/").find("IPv4"), std::string::npos);
  EXPECT_NE(error_of("ws://1.2.3.4.5/").find("IPv4"), std::string::npos);
}

TEST(Url, RejectsControlCharactersAndBadEscapes) {
  EXPECT_NE(error_of("ws://h/a\r\nX: y").find("control character"), std::string::npos);
  EXPECT_NE(error_of(std::string("ws://h/a\0b", 10)).find("control character"), std::string::npos);
  EXPECT_NE(error_of("ws://h/?a\x7f").find("query contains a control"), std::string::npos);
  EXPECT_NE(error_of("ws://h/%").find("two hex digits"), std::string::npos);
  EXPECT_NE(error_of("ws://h/%4").find("two hex digits"), std::string::npos);
  EXPECT_NE(error_of("ws://h/%zz").find("two hex digits"), std::string::npos);
  EXPECT_NE(error_of("ws://h/?%g0").find("query has a '%'"), std::string::npos);
}

}  // namespace
}  // namespace wsx
