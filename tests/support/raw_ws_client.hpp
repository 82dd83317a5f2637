// A small blocking WebSocket client for server tests, built only from the protocol core
// (ClientHandshake + Connection) over a plain socket, optionally through an io::TlsSession.
// Every read has a timeout, so a test never hangs on a silent server.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wsx/io/tls_context.hpp"
#include "wsx/io/tls_session.hpp"
#include "wsx/proto/connection.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::test {

struct RecordedEvent {
  proto::EventKind kind = proto::EventKind::message;
  proto::MessageKind message_kind = proto::MessageKind::text;
  std::vector<std::uint8_t> data;
  std::uint16_t close_code = 0;
  std::string close_reason;

  std::string text() const { return std::string(data.begin(), data.end()); }
};

class RawWsClient : private proto::EventHandler {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects to 127.0.0.1 (or ::1) at once; check connected().
  explicit RawWsClient(std::uint16_t port, bool ipv6 = false, int receive_buffer = 0) {
    fd_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int result = -1;
    if (ipv6) {
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_port = htons(port);
      address.sin6_addr = in6addr_loopback;
      result = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    } else {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port);
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      result = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    }
    connected_ = result == 0;
  }
  // Takes over a connected socket (one end of a socketpair, say).
  struct Adopt {
    int fd;
  };
  explicit RawWsClient(Adopt adopt) : fd_(adopt.fd), connected_(adopt.fd >= 0) {}
  ~RawWsClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawWsClient(const RawWsClient&) = delete;
  RawWsClient& operator=(const RawWsClient&) = delete;

  bool connected() const { return connected_; }
  std::uint16_t local_port() const {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return 0;
    return storage.ss_family == AF_INET6
               ? ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port)
               : ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  // Closes the socket now (as a client does once the server closed TCP, RFC 6455 §7.1.1).
  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  // Wraps the connection in TLS (before anything is sent); the handshake runs as bytes flow.
  void use_tls(const io::TlsContext& context, std::string_view server_name = "localhost") {
    tls_.emplace(context, server_name);
    flush_tls();
  }

  // ---- raw bytes
  bool write_all(std::span<const std::uint8_t> bytes) {
    if (tls_) {
      if (!tls_->write(bytes)) return false;
      return flush_tls();
    }
    return send_plain(bytes);
  }
  bool write_all(std::string_view text) {
    return write_all({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  }

  // Plaintext bytes, waiting up to `timeout`; empty on timeout or EOF (see eof()).
  std::vector<std::uint8_t> read_some(std::chrono::milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    std::vector<std::uint8_t> out;
    while (out.empty() && !eof_) {
      if (tls_) {
        std::uint8_t buffer[16384];
        for (;;) {
          const io::TlsReadResult got = tls_->read(buffer);
          if (got.status == io::TlsReadStatus::ok) {
            out.insert(out.end(), buffer, buffer + got.bytes);
            continue;
          }
          if (got.status == io::TlsReadStatus::closed || got.status == io::TlsReadStatus::failed) {
            eof_ = out.empty();
          }
          break;
        }
        flush_tls();
        if (!out.empty() || eof_) break;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd waiting{fd_, POLLIN, 0};
      if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) break;
      std::uint8_t buffer[65536];
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) {
        reset_ = got < 0 && errno == ECONNRESET;
        eof_ = true;
        break;
      }
      if (tls_) {
        tls_->feed({buffer, static_cast<std::size_t>(got)});
      } else {
        out.assign(buffer, buffer + got);
      }
    }
    return out;
  }
  bool eof() const { return eof_; }
  // The end was a reset (ECONNRESET), not the peer's FIN.
  bool reset() const { return reset_; }

  // A full-duplex peer (a browser uploading while it receives): writes `bytes` whenever the
  // socket takes more, at most `read_chunk` bytes read per turn in between, until everything is
  // written (or a write failed: the peer reset) and the peer closed or reset the connection, or
  // `timeout` passes. The peer's FIN ends the reading, not the writing.
  struct DuplexResult {
    std::size_t written = 0;
    std::vector<std::uint8_t> received;  // plaintext
    bool write_failed = false;
    bool ended = false;  // EOF, reset or TLS failure
    bool reset = false;  // the end was a reset (ECONNRESET)
  };
  DuplexResult write_while_reading(std::span<const std::uint8_t> bytes,
                                   std::chrono::milliseconds timeout,
                                   std::size_t read_chunk = 65536) {
    DuplexResult result;
    const Clock::time_point deadline = Clock::now() + timeout;
    std::vector<std::uint8_t> buffer(std::max<std::size_t>(read_chunk, 16384));
    while (Clock::now() < deadline) {
      const bool writing = !result.write_failed && result.written < bytes.size();
      if (result.ended && !writing) break;
      if (tls_ && writing && tls_->pending_output().empty()) {
        const std::size_t piece = std::min<std::size_t>(16384, bytes.size() - result.written);
        if (!tls_->write(bytes.subspan(result.written, piece))) {
          result.write_failed = true;
        } else {
          result.written += piece;
        }
      }
      const bool output_waiting =
          !result.write_failed && (tls_ ? !tls_->pending_output().empty() : writing);
      const short events =
          static_cast<short>((result.ended ? 0 : POLLIN) | (output_waiting ? POLLOUT : 0));
      pollfd waiting{fd_, events, 0};
      if (::poll(&waiting, 1, 50) < 0) break;
      // After a reset the socket is not writable but in error: the send reports it.
      if ((waiting.revents & (POLLOUT | POLLERR | POLLHUP)) != 0 && output_waiting) {
        const std::span<const std::uint8_t> out =
            tls_ ? tls_->pending_output() : bytes.subspan(result.written);
        const ssize_t n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          if (tls_) {
            tls_->consume_output(static_cast<std::size_t>(n));
          } else {
            result.written += static_cast<std::size_t>(n);
          }
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          result.write_failed = true;
        }
      }
      if (result.ended || (waiting.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::recv(fd_, buffer.data(), read_chunk, MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (got <= 0) {
        result.reset = got < 0 && errno == ECONNRESET;
        result.ended = true;  // writing goes on until done or refused
        continue;
      }
      if (!tls_) {
        result.received.insert(result.received.end(), buffer.data(), buffer.data() + got);
        continue;
      }
      tls_->feed({buffer.data(), static_cast<std::size_t>(got)});
      for (;;) {
        const io::TlsReadResult plain = tls_->read(buffer);
        if (plain.status != io::TlsReadStatus::ok) break;
        result.received.insert(result.received.end(), buffer.data(), buffer.data() + plain.bytes);
      }
    }
    eof_ = eof_ || result.ended;
    return result;
  }

  // Reads until the peer closes the connection; true if it did within `timeout`.
  bool wait_eof(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const Clock::time_point deadline = Clock::now() + timeout;
    while (!eof_ && Clock::now() < deadline) {
      std::vector<std::uint8_t> bytes = read_some(std::chrono::milliseconds(50));
      if (connection_ && !bytes.empty()) connection_->receive(bytes, *this);
    }
    return eof_;
  }

  // Sends `request` and reads an HTTP response head; returns its status (0 if none came).
  int http_exchange(std::string_view request,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    if (!write_all(request)) return 0;
    return read_response_head(timeout);
  }

  // ---- WebSocket
  // Performs the opening handshake with `options` (host/port filled in if empty); true on 101
  // with a valid response.
  bool handshake(proto::ClientRequestOptions options = {}, std::string_view target = "/") {
    if (options.host.empty()) options.host = "127.0.0.1";
    if (options.target == "/") options.target = std::string(target);
    handshake_.emplace(options);
    if (!write_all(handshake_->request())) return false;
    if (read_response_head(std::chrono::seconds(5)) != 101) return false;
    result_ = handshake_->check_response(response_parser_.head());
    if (result_.error != proto::ClientHandshakeError::none) return false;
    proto::ConnectionOptions connection_options;
    connection_options.role = proto::Role::client;
    connection_options.deflate = result_.deflate;
    connection_options.max_message_size = 64 * 1024 * 1024;
    connection_.emplace(connection_options);
    if (!leftover_.empty()) {
      std::vector<std::uint8_t> rest = std::move(leftover_);
      connection_->receive(rest, *this);
    }
    return true;
  }
  // Starts the protocol without an opening handshake (the peer is a bare Session).
  void start_protocol(proto::ConnectionOptions options = {}) {
    options.role = proto::Role::client;
    connection_.emplace(options);
  }
  const proto::ClientHandshakeResult& handshake_result() const { return result_; }
  int status() const { return status_; }
  const std::string& response_head() const { return response_head_; }
  proto::Connection& connection() { return *connection_; }

  bool send(std::string_view text) { return queue_and_flush(connection_->send_text(text)); }
  bool send(std::span<const std::uint8_t> data, proto::MessageKind kind) {
    return queue_and_flush(connection_->send(kind, data));
  }
  bool send_fragment(std::span<const std::uint8_t> data, proto::MessageKind kind, bool fin) {
    return queue_and_flush(connection_->send_fragment(kind, data, fin));
  }
  bool ping(std::string_view payload) {
    return queue_and_flush(
        connection_->ping({reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}));
  }
  bool close(std::uint16_t code = 1000, std::string_view reason = {}) {
    return queue_and_flush(connection_->close(code, reason));
  }
  bool flush() {
    const std::span<const std::uint8_t> pending = connection_->pending_output();
    if (pending.empty()) return true;
    const bool ok = write_all(pending);
    connection_->consume_output(pending.size());
    return ok;
  }

  // Bytes received some other way (write_while_reading) go through the protocol: their events
  // come out of next_event().
  void process(std::vector<std::uint8_t> bytes) {
    if (!bytes.empty()) connection_->receive(bytes, *this);
  }

  // The next event (message, ping, pong, close, error), waiting up to `timeout`.
  std::optional<RecordedEvent> next_event(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const Clock::time_point deadline = Clock::now() + timeout;
    while (events_.empty()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || eof_) return std::nullopt;
      std::vector<std::uint8_t> bytes = read_some(left);
      if (!bytes.empty()) connection_->receive(bytes, *this);
      flush();  // auto-pongs and close replies
    }
    RecordedEvent event = std::move(events_.front());
    events_.pop_front();
    return event;
  }
  // The next message, skipping pings and pongs.
  std::optional<RecordedEvent> next_message(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    for (;;) {
      std::optional<RecordedEvent> event = next_event(timeout);
      if (!event || event->kind != proto::EventKind::ping) return event;
    }
  }

 private:
  void on_event(const proto::Event& event) override {
    RecordedEvent recorded;
    recorded.kind = event.kind;
    recorded.message_kind = event.message_kind;
    recorded.data.assign(event.data.begin(), event.data.end());
    recorded.close_code = event.close_code;
    recorded.close_reason = std::string(event.close_reason);
    events_.push_back(std::move(recorded));
  }

  bool queue_and_flush(proto::SendResult result) {
    return result == proto::SendResult::ok && flush();
  }

  int read_response_head(std::chrono::milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    response_parser_.reset();
    response_head_.clear();
    status_ = 0;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return 0;
      std::vector<std::uint8_t> bytes = read_some(left);
      if (bytes.empty()) return 0;
      response_head_.append(bytes.begin(), bytes.end());
      const proto::HttpParseStatus parsed =
          response_parser_.parse(response_head_.data(), response_head_.size());
      if (parsed == proto::HttpParseStatus::error) return 0;
      if (parsed == proto::HttpParseStatus::complete) {
        const std::size_t size = response_parser_.head_size();
        leftover_.assign(response_head_.begin() + static_cast<std::ptrdiff_t>(size),
                         response_head_.end());
        status_ = response_parser_.head().status;
        return status_;
      }
    }
  }

  bool send_plain(std::span<const std::uint8_t> bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  bool flush_tls() {
    while (!tls_->pending_output().empty()) {
      const std::span<const std::uint8_t> pending = tls_->pending_output();
      if (!send_plain(pending)) return false;
      tls_->consume_output(pending.size());
    }
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  bool reset_ = false;
  std::optional<io::TlsSession> tls_;
  std::optional<proto::ClientHandshake> handshake_;
  proto::ClientHandshakeResult result_;
  proto::HttpHeadParser response_parser_{proto::HttpKind::response};
  std::string response_head_;
  std::vector<std::uint8_t> leftover_;
  int status_ = 0;
  std::optional<proto::Connection> connection_;
  std::deque<RecordedEvent> events_;
};

}  // namespace wsx::test
