// A small HTTP CONNECT or SOCKS5 proxy for client tests, on its own thread with blocking
// sockets (simple on purpose: one connection at a time is all a test needs). It checks
// credentials when given some, records what each client asked for, connects to the target on
// loopback and relays bytes both ways until either side closes. Or, with `raw_reply`, it answers
// the first message with those bytes (a hostile or broken proxy) and closes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace wsx::test {

enum class TestProxyKind { http, socks5 };

struct TestProxyOptions {
  TestProxyKind kind = TestProxyKind::http;
  std::optional<std::pair<std::string, std::string>> credentials;  // required when set
  std::optional<std::string> raw_reply;  // answer the first message with this, then close
  bool silent = false;                   // accept, never answer
  std::uint8_t socks_reply = 0;          // SOCKS5 CONNECT reply code to send
  int http_status = 200;                 // CONNECT status to send when credentials pass
};

class TestProxy {
 public:
  explicit TestProxy(TestProxyOptions options) : options_(std::move(options)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("test proxy: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~TestProxy() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& scheme = "", const std::string& userinfo = "") const {
    const std::string prefix = !scheme.empty()                        ? scheme
                               : options_.kind == TestProxyKind::http ? "http"
                                                                      : "socks5h";
    return prefix + "://" + (userinfo.empty() ? "" : userinfo + "@") +
           "127.0.0.1:" + std::to_string(port_);
  }

  // What clients asked for: the CONNECT head, or "socks5 ATYP HOST:PORT" with the name or
  // address as received.
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int connections() const { return connections_; }

 private:
  void record(std::string text) {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(text));
  }

  void serve() {
    while (!stopping_) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      ++connections_;
      timeval timeout{10, 0};  // a test never waits longer on a client
      ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      handle(client);
      ::close(client);
    }
  }

  static bool read_exact(int fd, void* out, std::size_t size) {
    auto* bytes = static_cast<char*>(out);
    while (size > 0) {
      const ssize_t n = ::recv(fd, bytes, size, 0);
      if (n <= 0) return false;
      bytes += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }
  static void write_all(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  }

  static int connect_to(const std::string& host, std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    // The proxy's own "resolver": every name is 127.0.0.1, so a test can name a target the
    // client could not resolve itself, or one its certificate does not cover.
    if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
      ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  static void relay(int a, int b) {
    char buffer[16384];
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (::poll(fds, 2, 10'000) > 0) {
      for (int i = 0; i < 2; ++i) {
        if (fds[i].revents == 0) continue;
        const ssize_t n = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
        if (n <= 0) return;
        write_all(fds[1 - i].fd, std::string(buffer, static_cast<std::size_t>(n)));
      }
    }
  }

  void handle(int client) {
    if (options_.kind == TestProxyKind::http) {
      handle_http(client);
    } else {
      handle_socks(client);
    }
  }

  void handle_http(int client) {
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
      if (::recv(client, &c, 1, 0) != 1) return;
      head += c;
    }
    record(head);
    if (options_.silent) {
      ::recv(client, &c, 1, 0);  // until the client gives up
      return;
    }
    if (options_.raw_reply) {
      write_all(client, *options_.raw_reply);
      return;
    }
    if (options_.credentials) {
      const std::string expected =
          "Proxy-Authorization: Basic " +
          base64(options_.credentials->first + ":" + options_.credentials->second) + "\r\n";
      if (head.find(expected) == std::string::npos) {
        write_all(client,
                  "HTTP/1.1 407 Proxy Authentication Required\r\n"
                  "Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n");
        return;
      }
    }
    if (options_.http_status != 200) {
      write_all(client, "HTTP/1.1 " + std::to_string(options_.http_status) +
                            " Refused\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    // "CONNECT host:port HTTP/1.1"
    const std::size_t start = head.find(' ') + 1;
    const std::string authority = head.substr(start, head.find(' ', start) - start);
    const std::size_t colon = authority.rfind(':');
    const int target =
        connect_to(authority.substr(0, colon),
                   static_cast<std::uint16_t>(std::stoi(authority.substr(colon + 1))));
    if (target < 0) {
      write_all(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    write_all(client, "HTTP/1.1 200 Connection established\r\n\r\n");
    relay(client, target);
    ::close(target);
  }

  void handle_socks(int client) {
    unsigned char greeting[2];
    if (!read_exact(client, greeting, 2)) return;
    std::string methods(greeting[1], '\0');
    if (!read_exact(client, methods.data(), methods.size())) return;
    if (options_.silent) {
      char c;
      ::recv(client, &c, 1, 0);
      return;
    }
    if (options_.raw_reply) {
      write_all(client, *options_.raw_reply);
      return;
    }
    const char wanted = options_.credentials ? '\x02' : '\x00';
    if (methods.find(wanted) == std::string::npos) {
      write_all(client, std::string("\x05\xFF", 2));
      return;
    }
    write_all(client, std::string("\x05", 1) + wanted);
    if (options_.credentials) {
      unsigned char version_and_length[2];
      if (!read_exact(client, version_and_length, 2)) return;
      std::string user(version_and_length[1], '\0');
      if (!read_exact(client, user.data(), user.size())) return;
      unsigned char password_length;
      if (!read_exact(client, &password_length, 1)) return;
      std::string password(password_length, '\0');
      if (!read_exact(client, password.data(), password.size())) return;
      const bool ok =
          user == options_.credentials->first && password == options_.credentials->second;
      write_all(client, std::string("\x01", 1) + (ok ? '\x00' : '\x01'));
      if (!ok) return;
    }
    unsigned char request[4];
    if (!read_exact(client, request, 4)) return;
    std::string host;
    if (request[3] == 1) {
      unsigned char ip[4];
      if (!read_exact(client, ip, 4)) return;
      char text[INET_ADDRSTRLEN];
      host = ::inet_ntop(AF_INET, ip, text, sizeof text);
    } else if (request[3] == 3) {
      unsigned char length;
      if (!read_exact(client, &length, 1)) return;
      host.assign(length, '\0');
      if (!read_exact(client, host.data(), host.size())) return;
    } else {
      unsigned char ip[16];
      if (!read_exact(client, ip, 16)) return;
      char text[INET6_ADDRSTRLEN];
      host = ::inet_ntop(AF_INET6, ip, text, sizeof text);
    }
    unsigned char port_bytes[2];
    if (!read_exact(client, port_bytes, 2)) return;
    const auto port = static_cast<std::uint16_t>(port_bytes[0] << 8 | port_bytes[1]);
    record("socks5 atyp " + std::to_string(request[3]) + " " + host + ":" + std::to_string(port));
    const std::string bound("\x00\x01\x7f\x00\x00\x01\x00\x00", 8);
    if (options_.socks_reply != 0) {
      write_all(client, std::string("\x05", 1) + static_cast<char>(options_.socks_reply) + bound);
      return;
    }
    const int target = connect_to(host, port);
    if (target < 0) {
      write_all(client, std::string("\x05\x05", 2) + bound);
      return;
    }
    write_all(client, std::string("\x05\x00", 2) + bound);
    relay(client, target);
    ::close(target);
  }

  static std::string base64(const std::string& text) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < text.size(); i += 3) {
      const unsigned v = static_cast<unsigned char>(text[i]) << 16 |
                         static_cast<unsigned char>(text[i + 1]) << 8 |
                         static_cast<unsigned char>(text[i + 2]);
      for (int shift = 18; shift >= 0; shift -= 6) out += alphabet[v >> shift & 63];
    }
    if (i < text.size()) {
      unsigned v = static_cast<unsigned char>(text[i]) << 16;
      if (i + 1 < text.size()) v |= static_cast<unsigned char>(text[i + 1]) << 8;
      out += alphabet[v >> 18 & 63];
      out += alphabet[v >> 12 & 63];
      out += i + 1 < text.size() ? alphabet[v >> 6 & 63] : '=';
      out += '=';
    }
    return out;
  }

  TestProxyOptions options_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
};

}  // namespace wsx::test
