#include "h2_handshake_driver.hpp"

#include <algorithm>
#include <utility>

#include "session/callback_exception.hpp"

namespace wsx::client_detail {

std::string describe_h2_fields(std::int32_t stream_id, const proto::HeaderList& fields) {
  std::string text = "HTTP/2 stream " + std::to_string(stream_id) + "\r\n";
  for (const auto& [name, value] : fields) text += name + ": " + value + "\r\n";
  return text;
}

namespace {

// A trace only watches: an exception from it is reported and changes nothing else.
template <typename Trace>
void call_trace(session::Session& session, const Trace& trace, std::string_view text) {
  try {
    trace(text);
  } catch (...) {
    session::report_current_exception(session.config().error_hook, "handshake_trace",
                                      session.config().route, session.carrier().remote_address());
  }
}

}  // namespace

H2HandshakeDriver::H2HandshakeDriver(HandshakeListener& listener, proto::ClientHandshake handshake,
                                     const HandshakeLimits& limits)
    : listener_(listener), handshake_(std::move(handshake)), limits_(limits) {}

void H2HandshakeDriver::request_sent(session::Session& session, std::int32_t stream_id,
                                     const proto::HeaderList& fields) {
  if (trace_ != nullptr && trace_->request) {
    call_trace(session, trace_->request, describe_h2_fields(stream_id, fields));
  }
}

void H2HandshakeDriver::on_response(session::Session& session, const h2::H2Response& response) {
  if (finished_ || head_done_) return;
  const proto::HttpHead& head = response.head;
  if (trace_ != nullptr && trace_->response) {
    proto::HeaderList fields;
    fields.emplace_back(":status", std::to_string(head.status));
    for (const proto::HttpHeader& header : head.headers) {
      fields.emplace_back(std::string(header.name), std::string(header.value));
    }
    call_trace(session, trace_->response, describe_h2_fields(response.stream_id, fields));
  }
  ClientError error;
  error.status = head.status;
  for (const proto::HttpHeader& header : head.headers) {
    error.headers.emplace_back(std::string(header.name), std::string(header.value));
  }
  if (head.status != 200) {
    error.kind = ClientErrorKind::handshake_refused;
    error.message = "the server refused the WebSocket (HTTP/2 extended CONNECT): status " +
                    std::to_string(head.status);
    refusal_ = std::move(error);
    head_done_ = true;
    if (response.end_stream) report_refusal(session);
    return;
  }
  proto::ClientHandshakeResult result = handshake_.check_response(head);
  if (result.error != proto::ClientHandshakeError::none) {
    error.kind = ClientErrorKind::handshake_invalid;
    error.message = "invalid handshake response: " + result.message;
    fail(session, std::move(error));
    return;
  }
  finished_ = true;
  listener_.handshake_accepted(head, result);
  session::OpenParams params;
  params.role = proto::Role::client;  // frames stay masked over HTTP/2 (RFC 8441 §5)
  params.deflate = result.deflate;
  params.subprotocol = result.subprotocol.value_or(std::string());
  session.open(std::move(params));
}

void H2HandshakeDriver::on_data(session::Session& session, std::span<std::uint8_t> data) {
  if (finished_ || !head_done_) return;  // DATA before a response cannot come (RFC 9113 §8.1)
  const std::size_t room =
      limits_.max_error_body - std::min(limits_.max_error_body, refusal_.body.size());
  refusal_.body.append(reinterpret_cast<const char*>(data.data()), std::min(room, data.size()));
  if (refusal_.body.size() >= limits_.max_error_body) report_refusal(session);
}

void H2HandshakeDriver::report_refusal(session::Session& session) {
  fail(session, std::move(refusal_));
}

void H2HandshakeDriver::fail(session::Session& session, ClientError error) {
  finished_ = true;
  listener_.handshake_failed(std::move(error));
  session.abort();  // resets the stream (CANCEL) if it is still open
}

void H2HandshakeDriver::on_timeout(session::Session& session) {
  if (finished_) return;
  if (head_done_) {  // the refusal's body did not come in time: report what we have
    report_refusal(session);
    return;
  }
  ClientError error;
  error.kind = ClientErrorKind::handshake_timeout;
  error.message = "the server did not answer the extended CONNECT within " +
                  std::to_string(limits_.timeout.count()) + " ms";
  fail(session, std::move(error));
}

void H2HandshakeDriver::on_failed(session::Session& session, std::string_view reason) {
  if (finished_) return;
  if (head_done_) {  // END_STREAM after the refusal's body
    report_refusal(session);
    return;
  }
  finished_ = true;
  ClientError error;
  error.kind = ClientErrorKind::connection_lost;
  if (refused_) {
    error.message = "the server refused the extended CONNECT's stream unprocessed (GOAWAY)";
    listener_.handshake_unprocessed(std::move(error));
    return;
  }
  error.message = "the HTTP/2 stream ended before the server answered the extended CONNECT";
  if (!reason.empty()) error.message += ": " + std::string(reason);
  listener_.handshake_failed(std::move(error));
}

}  // namespace wsx::client_detail
