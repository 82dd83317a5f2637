#include "wsx/io/port_owners.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

namespace wsx::io {
namespace {

struct Target {
  int family = AF_INET;
  std::array<std::uint8_t, 16> ip{};  // IPv4 in the first 4 bytes
  std::uint16_t port_be = 0;          // network order, as inet_diag reports it
  bool wildcard = false;
};

Target target_of(const SocketAddress& address) {
  Target target;
  if (address.family() == AddressFamily::ipv6) {
    sockaddr_in6 native{};
    std::memcpy(&native, address.native(), sizeof native);
    target.family = AF_INET6;
    std::memcpy(target.ip.data(), &native.sin6_addr, 16);
    target.port_be = native.sin6_port;
    target.wildcard = IN6_IS_ADDR_UNSPECIFIED(&native.sin6_addr);
  } else {
    sockaddr_in native{};
    std::memcpy(&native, address.native(), sizeof native);
    std::memcpy(target.ip.data(), &native.sin_addr, 4);
    target.port_be = native.sin_port;
    target.wildcard = native.sin_addr.s_addr == htonl(INADDR_ANY);
  }
  return target;
}

bool is_zero(const std::uint8_t* bytes, std::size_t size) {
  return std::all_of(bytes, bytes + size, [](std::uint8_t b) { return b == 0; });
}

bool v6_only(const nlmsghdr* header, const inet_diag_msg* message) {
  auto* attribute = reinterpret_cast<const rtattr*>(message + 1);
  int length = static_cast<int>(header->nlmsg_len - NLMSG_LENGTH(sizeof *message));
  for (; RTA_OK(attribute, length); attribute = RTA_NEXT(attribute, length)) {
    if (attribute->rta_type == INET_DIAG_SKV6ONLY) {
      return *static_cast<const std::uint8_t*>(RTA_DATA(attribute)) != 0;
    }
  }
  return false;  // not reported: assume the Linux default (dual-stack), the cautious answer
}

// Whether a listener found in the table of `family` overlaps `target`.
bool overlaps(const Target& target, int family, const nlmsghdr* header,
              const inet_diag_msg* message) {
  if (message->id.idiag_sport != target.port_be) return false;
  const auto* ip = reinterpret_cast<const std::uint8_t*>(message->id.idiag_src);
  if (family != target.family) {  // an IPv6 socket seen for an IPv4 target
    return is_zero(ip, 16) && !v6_only(header, message);
  }
  const std::size_t size = family == AF_INET6 ? 16 : 4;
  return target.wildcard || is_zero(ip, size) || std::memcmp(ip, target.ip.data(), size) == 0;
}

class DiagSocket {
 public:
  DiagSocket() : fd_(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {}
  ~DiagSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  DiagSocket(const DiagSocket&) = delete;
  DiagSocket& operator=(const DiagSocket&) = delete;
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

// True/false: whether a listener not in `own_inodes` overlaps; nullopt: the table could not
// be read.
std::optional<bool> scan(const Target& target, int family, const std::vector<ino_t>& own_inodes) {
  DiagSocket diag;
  if (diag.fd() < 0) return std::nullopt;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } query{};
  query.header.nlmsg_len = sizeof query;
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  query.request.sdiag_family = static_cast<std::uint8_t>(family);
  query.request.sdiag_protocol = IPPROTO_TCP;
  query.request.idiag_states = 1u << TCP_LISTEN;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(diag.fd(), &query, sizeof query, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) != static_cast<ssize_t>(sizeof query)) {
    return std::nullopt;
  }
  alignas(nlmsghdr) std::array<char, 32 * 1024> buffer;
  bool found = false;
  for (;;) {
    const ssize_t received = ::recv(diag.fd(), buffer.data(), buffer.size(), 0);
    if (received < 0 && errno == EINTR) continue;
    if (received <= 0) return std::nullopt;
    auto length = static_cast<unsigned>(received);
    for (auto* header = reinterpret_cast<const nlmsghdr*>(buffer.data()); NLMSG_OK(header, length);
         header = NLMSG_NEXT(header, length)) {
      if (header->nlmsg_type == NLMSG_DONE) return found;
      if (header->nlmsg_type == NLMSG_ERROR) return std::nullopt;
      if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      const auto* message = static_cast<const inet_diag_msg*>(NLMSG_DATA(header));
      const bool own = std::find(own_inodes.begin(), own_inodes.end(),
                                 static_cast<ino_t>(message->idiag_inode)) != own_inodes.end();
      if (!own && overlaps(target, family, header, message)) found = true;
    }
  }
}

}  // namespace

std::error_code check_no_other_listener(const SocketAddress& address, std::span<const int> own) {
  if (address.family() != AddressFamily::ipv4 && address.family() != AddressFamily::ipv6) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  std::vector<ino_t> own_inodes;
  for (const int fd : own) {
    struct stat status {};
    if (::fstat(fd, &status) == 0) own_inodes.push_back(status.st_ino);
  }
  const Target target = target_of(address);
  std::vector<int> families = {target.family};
  if (target.family == AF_INET) families.push_back(AF_INET6);
  for (const int family : families) {
    if (scan(target, family, own_inodes).value_or(false)) {
      return std::make_error_code(std::errc::address_in_use);
    }
  }
  return {};
}

}  // namespace wsx::io
