#include "server/address_key.hpp"

#include <gtest/gtest.h>

namespace wsx::server {
namespace {

AddressKey key_of(std::string_view ip, unsigned prefix = 64) {
  const std::optional<io::SocketAddress> address = io::SocketAddress::parse(ip, 1234);
  EXPECT_TRUE(address) << ip;
  const std::optional<AddressKey> key = address_key(*address, prefix);
  EXPECT_TRUE(key) << ip;
  return key.value_or(AddressKey{});
}

TEST(AddressKey, Ipv4AddressesAreClientsOfTheirOwn) {
  EXPECT_EQ(key_of("192.0.2.1"), key_of("192.0.2.1"));
  EXPECT_FALSE(key_of("192.0.2.1") == key_of("192.0.2.2"));
  EXPECT_TRUE(key_of("127.0.0.1").loopback);
  EXPECT_TRUE(key_of("127.3.2.1").loopback);
  EXPECT_FALSE(key_of("192.0.2.1").loopback);
}

TEST(AddressKey, Ipv6CountsByNetworkPrefix) {
  EXPECT_EQ(key_of("2001:db8:1:2::1"), key_of("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_FALSE(key_of("2001:db8:1:2::1") == key_of("2001:db8:1:3::1"));
  EXPECT_FALSE(key_of("2001:db8:1:2::1", 128) == key_of("2001:db8:1:2::2", 128));
  EXPECT_EQ(key_of("2001:db8:1:2::1", 48), key_of("2001:db8:1:3::1", 48));
  EXPECT_TRUE(key_of("::1").loopback);
  EXPECT_FALSE(key_of("2001:db8::1").loopback);
}

TEST(AddressKey, MappedIpv4IsTheIpv4Client) {
  EXPECT_EQ(key_of("::ffff:192.0.2.1"), key_of("192.0.2.1"));
  EXPECT_TRUE(key_of("::ffff:127.0.0.1").loopback);
  EXPECT_FALSE(key_of("::ffff:192.0.2.1").ipv6);
}

TEST(AddressKey, HashSeparatesFamilies) {
  // 1.2.3.4 and 0102:0304:: have the same bytes; the family keeps them apart.
  EXPECT_FALSE(key_of("1.2.3.4") == key_of("102:304::", 128));
  EXPECT_EQ(address_key(io::SocketAddress(), 64), std::nullopt);
}

}  // namespace
}  // namespace wsx::server
