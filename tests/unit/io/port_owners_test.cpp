#include "wsx/io/port_owners.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace wsx::io {
namespace {

// A raw socket of the test, as another program would open it.
class RawSocket {
 public:
  explicit RawSocket(const SocketAddress& address, bool reuse_port, bool listen = true,
                     bool v6_only = true) {
    fd_ = ::socket(address.family() == AddressFamily::ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    if (reuse_port) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (address.family() == AddressFamily::ipv6) {
      const int value = v6_only ? 1 : 0;
      ::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &value, sizeof value);
    }
    ok_ = ::bind(fd_, static_cast<const sockaddr*>(address.native()),
                 static_cast<socklen_t>(address.native_size())) == 0 &&
          (!listen || ::listen(fd_, 8) == 0);
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool ok() const { return ok_; }
  int fd() const { return fd_; }
  std::uint16_t port() const {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length);
    return SocketAddress::from_native(&storage, length).port();
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

TEST(PortOwners, OwnListenersAreNotOthers) {
  RawSocket first(SocketAddress::ipv4_loopback(0), true);
  ASSERT_TRUE(first.ok());
  const SocketAddress address = SocketAddress::ipv4_loopback(first.port());
  RawSocket second(address, true);
  ASSERT_TRUE(second.ok());
  const std::vector<int> group = {first.fd(), second.fd()};
  EXPECT_FALSE(check_no_other_listener(address, group));
}

TEST(PortOwners, AnotherReusePortListenerIsFound) {
  // The kernel lets this one join silently (same user, SO_REUSEPORT on both): only the table
  // tells it apart.
  RawSocket ours(SocketAddress::ipv4_loopback(0), true);
  ASSERT_TRUE(ours.ok());
  const SocketAddress address = SocketAddress::ipv4_loopback(ours.port());
  RawSocket stranger(address, true);
  ASSERT_TRUE(stranger.ok());
  const std::vector<int> group = {ours.fd()};
  EXPECT_EQ(check_no_other_listener(address, group), std::errc::address_in_use);
}

TEST(PortOwners, AWildcardListenerOverlapsASpecificAddress) {
  RawSocket wildcard(SocketAddress::ipv4_any(0), true);
  ASSERT_TRUE(wildcard.ok());
  RawSocket ours(SocketAddress::ipv4_loopback(wildcard.port()), true);
  ASSERT_TRUE(ours.ok());
  const std::vector<int> group = {ours.fd()};
  EXPECT_EQ(check_no_other_listener(SocketAddress::ipv4_loopback(wildcard.port()), group),
            std::errc::address_in_use);
  // And the other way round: our wildcard over a stranger's 127.0.0.1.
  const std::vector<int> wildcard_group = {wildcard.fd()};
  EXPECT_EQ(check_no_other_listener(SocketAddress::ipv4_any(wildcard.port()), wildcard_group),
            std::errc::address_in_use);
}

TEST(PortOwners, OtherPortsAndOtherAddressesDoNotCount) {
  RawSocket ours(SocketAddress::ipv4_loopback(0), true);
  ASSERT_TRUE(ours.ok());
  RawSocket elsewhere(SocketAddress::ipv4_loopback(0), true);
  ASSERT_TRUE(elsewhere.ok());
  const std::vector<int> group = {ours.fd()};
  EXPECT_FALSE(check_no_other_listener(SocketAddress::ipv4_loopback(ours.port()), group));
  // 127.0.0.2 is loopback too on Linux (127/8), and another address of the same port.
  RawSocket other_ip(*SocketAddress::parse("127.0.0.2", ours.port()), true);
  ASSERT_TRUE(other_ip.ok());
  EXPECT_FALSE(check_no_other_listener(SocketAddress::ipv4_loopback(ours.port()), group));
}

TEST(PortOwners, ABoundSocketThatDoesNotListenTakesNoConnections) {
  RawSocket ours(SocketAddress::ipv4_loopback(0), true);
  ASSERT_TRUE(ours.ok());
  const SocketAddress address = SocketAddress::ipv4_loopback(ours.port());
  RawSocket bound_only(address, true, /*listen=*/false);
  ASSERT_TRUE(bound_only.ok());
  const std::vector<int> group = {ours.fd()};
  EXPECT_FALSE(check_no_other_listener(address, group));
}

TEST(PortOwners, ADualStackIpv6WildcardOverlapsIpv4) {
  RawSocket dual(SocketAddress::ipv6_any(0), true, true, /*v6_only=*/false);
  if (!dual.ok()) GTEST_SKIP() << "no IPv6";
  RawSocket ours(SocketAddress::ipv4_loopback(dual.port()), true);
  ASSERT_TRUE(ours.ok());
  const std::vector<int> group = {ours.fd()};
  EXPECT_EQ(check_no_other_listener(SocketAddress::ipv4_loopback(dual.port()), group),
            std::errc::address_in_use);
}

TEST(PortOwners, AnIpv6OnlyWildcardDoesNotOverlapIpv4) {
  RawSocket v6(SocketAddress::ipv6_any(0), true, true, /*v6_only=*/true);
  if (!v6.ok()) GTEST_SKIP() << "no IPv6";
  RawSocket ours(SocketAddress::ipv4_loopback(v6.port()), true);
  ASSERT_TRUE(ours.ok());
  const std::vector<int> group = {ours.fd()};
  EXPECT_FALSE(check_no_other_listener(SocketAddress::ipv4_loopback(v6.port()), group));
}

}  // namespace
}  // namespace wsx::io
