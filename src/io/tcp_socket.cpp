#include "wsx/io/tcp_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace wsx::io {
namespace {

IoResult failure() noexcept {
  if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoStatus::would_block, 0, 0};
  return {IoStatus::error, 0, errno};
}

}  // namespace

TcpSocket::~TcpSocket() {
  close();
}

TcpSocket& TcpSocket::operator=(TcpSocket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

int TcpSocket::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void TcpSocket::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

IoResult TcpSocket::read(std::span<std::uint8_t> buffer) noexcept {
  if (buffer.empty()) return {};
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n > 0) return {IoStatus::ok, static_cast<std::size_t>(n), 0};
    if (n == 0) return {IoStatus::closed, 0, 0};
    if (errno != EINTR) return failure();
  }
}

IoResult TcpSocket::write(ConstBuffer buffer) noexcept {
  if (buffer.empty()) return {};
  for (;;) {
    const ssize_t n = ::send(fd_, buffer.data(), buffer.size(), MSG_NOSIGNAL);
    if (n >= 0) return {IoStatus::ok, static_cast<std::size_t>(n), 0};
    if (errno != EINTR) return failure();
  }
}

IoResult TcpSocket::write(std::span<const ConstBuffer> buffers) noexcept {
  iovec vectors[max_write_buffers];
  std::size_t count = 0;
  for (const ConstBuffer& buffer : buffers) {
    if (count == max_write_buffers) break;
    if (buffer.empty()) continue;
    vectors[count].iov_base = const_cast<std::uint8_t*>(buffer.data());
    vectors[count].iov_len = buffer.size();
    ++count;
  }
  if (count == 0) return {};
  msghdr message{};
  message.msg_iov = vectors;
  message.msg_iovlen = count;
  for (;;) {
    // sendmsg rather than writev: only send* take MSG_NOSIGNAL.
    const ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (n >= 0) return {IoStatus::ok, static_cast<std::size_t>(n), 0};
    if (errno != EINTR) return failure();
  }
}

std::error_code TcpSocket::shutdown_write() noexcept {
  if (::shutdown(fd_, SHUT_WR) != 0) return {errno, std::system_category()};
  return {};
}

std::error_code TcpSocket::set_no_delay(bool enabled) noexcept {
  const int value = enabled ? 1 : 0;
  if (::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) != 0) {
    return {errno, std::system_category()};
  }
  return {};
}

int TcpSocket::pending_error() const noexcept {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

SocketAddress TcpSocket::local_address() const {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return {};
  return SocketAddress::from_native(&storage, length);
}

SocketAddress TcpSocket::peer_address() const {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return {};
  return SocketAddress::from_native(&storage, length);
}

}  // namespace wsx::io
