#include "wsx/io/socket_address.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>

namespace wsx::io {
namespace {

TEST(SocketAddress, ParsesAndFormatsIpv4) {
  const auto address = SocketAddress::parse("127.0.0.1", 1234);
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->family(), AddressFamily::ipv4);
  EXPECT_EQ(address->port(), 1234);
  EXPECT_EQ(address->ip(), "127.0.0.1");
  EXPECT_EQ(address->to_string(), "127.0.0.1:1234");
  EXPECT_TRUE(address->is_loopback());
  EXPECT_EQ(address->native_size(), sizeof(sockaddr_in));
}

TEST(SocketAddress, ParsesAndFormatsIpv6WithBrackets) {
  for (const char* text : {"::1", "[::1]"}) {
    const auto address = SocketAddress::parse(text, 443);
    ASSERT_TRUE(address.has_value()) << text;
    EXPECT_EQ(address->family(), AddressFamily::ipv6);
    EXPECT_EQ(address->to_string(), "[::1]:443");
    EXPECT_TRUE(address->is_loopback());
  }
  EXPECT_EQ(SocketAddress::parse("2001:db8::1", 80)->to_string(), "[2001:db8::1]:80");
  EXPECT_FALSE(SocketAddress::parse("2001:db8::1", 80)->is_loopback());
  EXPECT_EQ(SocketAddress::parse("fe80::1%lo", 80)->to_string(), "[fe80::1%lo]:80");
}

TEST(SocketAddress, RejectsNamesAndMalformedLiterals) {
  for (const char* text :
       {"", "localhost", "example.com", "127.0.0.256", "1.2.3", "[127.0.0.1]", "::1::2", "[::1",
        "::1]", "fe80::1%no-such-interface", "127.0.0.1 ", " 127.0.0.1"}) {
    EXPECT_FALSE(SocketAddress::parse(text, 80).has_value()) << text;
    EXPECT_FALSE(is_ip_literal(text)) << text;
  }
  EXPECT_TRUE(is_ip_literal("10.0.0.1"));
  EXPECT_TRUE(is_ip_literal("[::1]"));
}

TEST(SocketAddress, WellKnownAddresses) {
  EXPECT_EQ(SocketAddress::ipv4_loopback(1).to_string(), "127.0.0.1:1");
  EXPECT_EQ(SocketAddress::ipv6_loopback(2).to_string(), "[::1]:2");
  EXPECT_EQ(SocketAddress::ipv4_any(3).to_string(), "0.0.0.0:3");
  EXPECT_EQ(SocketAddress::ipv6_any(65535).to_string(), "[::]:65535");
  EXPECT_TRUE(SocketAddress{}.empty());
  EXPECT_EQ(SocketAddress{}.family(), AddressFamily::unspecified);
  EXPECT_EQ(SocketAddress{}.port(), 0);
}

TEST(SocketAddress, NativeRoundTripAndEquality) {
  const SocketAddress original = SocketAddress::ipv6_loopback(8080);
  const SocketAddress copy = SocketAddress::from_native(original.native(), original.native_size());
  EXPECT_EQ(copy, original);
  EXPECT_FALSE(copy == SocketAddress::ipv6_loopback(8081));
  EXPECT_TRUE(SocketAddress::from_native(original.native(), 4).empty());  // truncated
  EXPECT_TRUE(SocketAddress::from_native(nullptr, 0).empty());
  sockaddr_in unix_like{};
  unix_like.sin_family = AF_UNIX;
  EXPECT_TRUE(SocketAddress::from_native(&unix_like, sizeof unix_like).empty());
}

}  // namespace
}  // namespace wsx::io
