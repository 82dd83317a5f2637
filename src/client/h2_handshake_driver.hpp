// The client's half of a WebSocket opening over HTTP/2 (RFC 8441): the extended CONNECT goes out
// as the HEADERS of a new stream (H2ClientConnection::open_stream), its response comes back as
// a header list. A 200 is checked like a 101 over HTTP/1.1 (subprotocol, extensions) and opens
// the protocol; another status is a refusal (its body, bounded, read until END_STREAM), reported
// as over HTTP/1.1 (ClientErrorKind::handshake_refused).
#pragma once

#include <cstdint>
#include <string>

#include "h2/h2_connection.hpp"
#include "handshake_driver.hpp"
#include "session/session.hpp"
#include "wsx/client.hpp"
#include "wsx/proto/handshake.hpp"

namespace wsx::client_detail {

// "HTTP/2 stream N" and one "name: value" line per field, for HandshakeTrace.
std::string describe_h2_fields(std::int32_t stream_id, const proto::HeaderList& fields);

class H2HandshakeDriver final : public session::Handshake {
 public:
  H2HandshakeDriver(HandshakeListener& listener, proto::ClientHandshake handshake,
                    const HandshakeLimits& limits);

  void set_trace(const HandshakeTrace& trace) { trace_ = &trace; }
  // The request's header list (for open_stream), and its trace once the stream id is known.
  proto::HeaderList request_fields() const { return handshake_.extended_connect(); }
  void request_sent(session::Session& session, std::int32_t stream_id,
                    const proto::HeaderList& fields);
  // The response's header block (from the connection, inside Session::run()).
  void on_response(session::Session& session, const h2::H2Response& response);

  // The stream is closing as refused (REFUSED_STREAM, before any answer): the server never
  // processed it, so the failure that follows is reported as one that may be retried.
  void stream_refused() noexcept { refused_ = true; }

  void on_data(session::Session& session, std::span<std::uint8_t> data) override;
  void on_timeout(session::Session& session) override;
  void on_failed(session::Session& session, std::string_view reason) override;

 private:
  void report_refusal(session::Session& session);
  void fail(session::Session& session, ClientError error);

  HandshakeListener& listener_;
  proto::ClientHandshake handshake_;
  HandshakeLimits limits_;
  const HandshakeTrace* trace_ = nullptr;
  ClientError refusal_;     // a non-200 head: its body is being read
  bool head_done_ = false;  // a refusal head arrived
  bool finished_ = false;
  bool refused_ = false;  // REFUSED_STREAM: never processed by the server
};

}  // namespace wsx::client_detail
