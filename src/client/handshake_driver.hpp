// The client's half of the opening handshake on a Session: sends the request, reads the
// response head (and, for a refusal, a bounded body), checks it (RFC 6455 §4.1, RFC 7692) and
// either opens the protocol or reports exactly why not.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

#include "session/session.hpp"
#include "wsx/client.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::client_detail {

class HandshakeListener {
 public:
  // The response was a valid 101: the protocol opens right after this returns.
  virtual void handshake_accepted(const proto::HttpHead& response,
                                  const proto::ClientHandshakeResult& result) = 0;
  // The handshake failed; the session is aborted right after this returns.
  virtual void handshake_failed(ClientError error) = 0;
  // It failed before the server processed anything of it (an HTTP/2 stream refused by GOAWAY):
  // the same request may be sent again on a new connection.
  virtual void handshake_unprocessed(ClientError error) { handshake_failed(std::move(error)); }

 protected:
  ~HandshakeListener() = default;
};

struct HandshakeLimits {
  std::size_t max_response_head = 16 * 1024;
  std::size_t max_error_body = 16 * 1024;
  std::chrono::milliseconds timeout{10'000};  // for the message only
};

class HandshakeDriver final : public session::Handshake {
 public:
  HandshakeDriver(HandshakeListener& listener, proto::ClientHandshake handshake,
                  const HandshakeLimits& limits);

  // Reports the request and the response head to `trace` (which must outlive the driver).
  void set_trace(const HandshakeTrace& trace) { trace_ = &trace; }
  // Queues the request on the session (call right after Session::start()).
  void send_request(session::Session& session);

  void on_data(session::Session& session, std::span<std::uint8_t> data) override;
  void on_timeout(session::Session& session) override;
  void on_failed(session::Session& session, std::string_view reason) override;

 private:
  void on_head(session::Session& session);
  void report_refusal(session::Session& session);
  void fail(session::Session& session, ClientError error);
  ClientError response_error(ClientErrorKind kind, std::string message) const;

  HandshakeListener& listener_;
  proto::ClientHandshake handshake_;
  HandshakeLimits limits_;
  const HandshakeTrace* trace_ = nullptr;
  proto::HttpHeadParser parser_;
  std::string buffer_;
  bool head_done_ = false;         // a non-101 head arrived: collecting its body
  ClientError refusal_;            // that head, copied: buffer_ may move under its views
  std::size_t body_wanted_ = 0;    // bytes of body to wait for (capped)
  bool body_until_close_ = false;  // no Content-Length: the body ends with the connection
  bool finished_ = false;
  // When the request went out, for "closed at once" (see tls_hint in handshake_driver.cpp).
  std::chrono::steady_clock::time_point request_sent_{};
};

}  // namespace wsx::client_detail
