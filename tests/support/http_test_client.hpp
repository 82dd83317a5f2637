// A small blocking HTTP/1.1 client for server tests: one keep-alive TCP connection to
// 127.0.0.1, requests written as given, answers read by Content-Length. Every read has a
// timeout, so a test never hangs on a silent server.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wsx/proto/http_head.hpp"

namespace wsx::test {

struct HttpAnswer {
  int status = 0;
  std::string head;  // status line and headers, up to the blank line
  std::string body;
  bool keep_alive = true;  // not "Connection: close"

  // The first value of header `name` (case-insensitive), empty if absent.
  std::string header(std::string_view name) const {
    proto::HttpHeadParser parser(proto::HttpKind::response);
    const std::string copy = head;
    if (parser.parse(copy.data(), copy.size()) != proto::HttpParseStatus::complete) return {};
    const std::optional<std::string_view> value = parser.head().header(name);
    return value ? std::string(*value) : std::string();
  }
};

class HttpTestClient {
 public:
  using Clock = std::chrono::steady_clock;

  explicit HttpTestClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~HttpTestClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpTestClient(const HttpTestClient&) = delete;
  HttpTestClient& operator=(const HttpTestClient&) = delete;

  bool connected() const { return connected_; }
  // Connected, and no answer so far said Connection: close.
  bool usable() const { return connected_ && !eof_ && !closing_; }

  bool write(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One answer: its head, then Content-Length bytes of body (none for 204). nullopt on a
  // timeout or when the server closed before a whole answer.
  std::optional<HttpAnswer> read_answer(
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const Clock::time_point deadline = Clock::now() + timeout;
    std::size_t end = std::string::npos;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return std::nullopt;
    }
    HttpAnswer answer;
    answer.head = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    proto::HttpHeadParser parser(proto::HttpKind::response);
    if (parser.parse(answer.head.data(), answer.head.size()) != proto::HttpParseStatus::complete) {
      return std::nullopt;
    }
    answer.status = parser.head().status;
    answer.keep_alive = !parser.head().has_token("Connection", "close");
    closing_ = closing_ || !answer.keep_alive;
    std::size_t length = 0;
    if (const std::optional<std::string_view> value = parser.head().header("Content-Length")) {
      length = std::stoul(std::string(*value));
    }
    while (buffer_.size() < length) {
      if (!fill(deadline)) return std::nullopt;
    }
    answer.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return answer;
  }

  // True when the server closes the connection (EOF or reset) within `timeout`.
  bool closed_by_server(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const Clock::time_point deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (!fill(deadline)) return eof_;
    }
    return false;
  }

  std::optional<HttpAnswer> request(std::string_view text,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    if (!write(text)) return std::nullopt;
    return read_answer(timeout);
  }

 private:
  bool fill(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  bool closing_ = false;
  std::string buffer_;
};

}  // namespace wsx::test
