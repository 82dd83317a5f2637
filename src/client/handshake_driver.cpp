#include "handshake_driver.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "session/callback_exception.hpp"
#include "tls_failure.hpp"

namespace wsx::client_detail {

HandshakeDriver::HandshakeDriver(HandshakeListener& listener, proto::ClientHandshake handshake,
                                 const HandshakeLimits& limits)
    : listener_(listener),
      handshake_(std::move(handshake)),
      limits_(limits),
      parser_(proto::HttpKind::response,
              proto::HttpLimits{limits.max_response_head, proto::HttpLimits{}.max_headers}) {}

namespace {

// A trace only watches: an exception from it is reported and changes nothing else.
template <typename Trace>
void call_trace(session::Session& session, const Trace& trace, std::string_view head) {
  try {
    trace(head);
  } catch (...) {
    std::string remote;
    try {
      remote = session.remote_address();
    } catch (...) {
    }
    session::report_current_exception(session.config().error_hook, "handshake_trace",
                                      session.config().route, remote);
  }
}

// A plain-text request sent to a TLS server: it answers with a TLS record (an alert, 0x15, or
// a handshake, 0x16, then the version's major byte 3), or it closes (or resets) without a byte
// as soon as it has read ours (OpenSSL-based servers, wsx's own). Either way the likely mistake
// is ws:// for wss://. A server that closes only after a while is more likely an idle timeout.
constexpr auto closed_at_once = std::chrono::seconds(2);
constexpr const char* tls_question = " (is it a wss:// (TLS) server?)";

bool looks_like_tls_record(std::string_view bytes) {
  return bytes.size() >= 2 && (bytes[0] == '\x15' || bytes[0] == '\x16') && bytes[1] == '\x03';
}

}  // namespace

void HandshakeDriver::send_request(session::Session& session) {
  if (trace_ != nullptr && trace_->request)
    call_trace(session, trace_->request, handshake_.request());
  request_sent_ = std::chrono::steady_clock::now();
  session.write_raw(handshake_.request());
}

void HandshakeDriver::on_data(session::Session& session, std::span<std::uint8_t> data) {
  if (finished_) return;
  buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
  if (head_done_) {
    if (!body_until_close_ && buffer_.size() - parser_.head_size() >= body_wanted_) {
      report_refusal(session);
    } else if (body_until_close_ &&
               buffer_.size() - parser_.head_size() >= limits_.max_error_body) {
      report_refusal(session);
    }
    return;
  }
  switch (parser_.parse(buffer_.data(), buffer_.size())) {
    case proto::HttpParseStatus::need_more:
      return;
    case proto::HttpParseStatus::error: {
      ClientError error;
      error.kind = ClientErrorKind::handshake_invalid;
      error.message = "the server's answer is not a valid HTTP response: " +
                      std::string(proto::describe(parser_.error()));
      if (session.carrier().tls() == nullptr && looks_like_tls_record(buffer_)) {
        error.message += ": it looks like TLS" + std::string(tls_question);
      }
      fail(session, std::move(error));
      return;
    }
    case proto::HttpParseStatus::complete:
      on_head(session);
      return;
  }
}

void HandshakeDriver::on_head(session::Session& session) {
  const proto::HttpHead& head = parser_.head();
  if (trace_ != nullptr && trace_->response) {
    call_trace(session, trace_->response, std::string_view(buffer_).substr(0, parser_.head_size()));
  }
  if (head.status != 101) {
    // The head's views point into buffer_, which the body may reallocate: copy them now.
    std::string message =
        "the server refused the WebSocket upgrade: HTTP " + std::to_string(head.status);
    if (!head.reason.empty()) message += " " + std::string(head.reason);
    refusal_ = response_error(ClientErrorKind::handshake_refused, std::move(message));
    head_done_ = true;
    const auto length = head.header("Content-Length");
    std::size_t declared = 0;
    if (length && std::from_chars(length->data(), length->data() + length->size(), declared).ec ==
                      std::errc{}) {
      body_wanted_ = std::min(declared, limits_.max_error_body);
    } else if (head.header("Transfer-Encoding")) {
      body_wanted_ = 0;  // chunked bodies are not decoded: report the head alone
    } else if (head.status == 204 || head.status == 304 || head.status < 200) {
      body_wanted_ = 0;
    } else {
      body_until_close_ = true;
    }
    if (!body_until_close_ && buffer_.size() - parser_.head_size() >= body_wanted_) {
      report_refusal(session);
    }
    return;
  }
  proto::ClientHandshakeResult result = handshake_.check_response(head);
  if (result.error != proto::ClientHandshakeError::none) {
    fail(session, response_error(ClientErrorKind::handshake_invalid,
                                 "invalid handshake response: " + result.message));
    return;
  }
  finished_ = true;
  listener_.handshake_accepted(head, result);
  session::OpenParams params;
  params.role = proto::Role::client;
  params.deflate = result.deflate;
  params.subprotocol = result.subprotocol.value_or(std::string());
  auto* rest = reinterpret_cast<std::uint8_t*>(buffer_.data()) + parser_.head_size();
  session.open(std::move(params), {rest, buffer_.size() - parser_.head_size()});
}

ClientError HandshakeDriver::response_error(ClientErrorKind kind, std::string message) const {
  const proto::HttpHead& head = parser_.head();
  ClientError error;
  error.kind = kind;
  error.message = std::move(message);
  error.status = head.status;
  error.reason = std::string(head.reason);
  for (const proto::HttpHeader& header : head.headers) {
    error.headers.emplace_back(std::string(header.name), std::string(header.value));
  }
  return error;
}

void HandshakeDriver::report_refusal(session::Session& session) {
  ClientError error = std::move(refusal_);
  const std::size_t body_size =
      std::min(buffer_.size() - parser_.head_size(), limits_.max_error_body);
  error.body = buffer_.substr(parser_.head_size(), body_size);
  fail(session, std::move(error));
}

void HandshakeDriver::fail(session::Session& session, ClientError error) {
  finished_ = true;
  listener_.handshake_failed(std::move(error));
  session.abort();
}

void HandshakeDriver::on_timeout(session::Session& session) {
  if (finished_) return;
  if (head_done_) {  // the refusal's body did not come in time: report what we have
    report_refusal(session);
    return;
  }
  const io::TlsSession* tls = session.carrier().tls();
  ClientError error;
  error.kind = ClientErrorKind::handshake_timeout;
  const std::string limit = std::to_string(limits_.timeout.count()) + " ms";
  if (tls != nullptr && !tls->handshake_done()) {
    error.message = "the TLS handshake did not complete within " + limit;
  } else if (buffer_.empty()) {
    error.message = "the server did not answer the WebSocket handshake within " + limit;
  } else {
    error.message = "the server's handshake response was incomplete after " + limit;
  }
  fail(session, std::move(error));
}

void HandshakeDriver::on_failed(session::Session& session, std::string_view reason) {
  if (finished_) return;
  if (head_done_) {
    report_refusal(session);
    return;
  }
  finished_ = true;
  const io::TlsSession* tls = session.carrier().tls();
  ClientError error;
  if (tls != nullptr && !tls->handshake_done()) {
    error.kind = ClientErrorKind::tls_failed;
    const std::string_view why = !tls->error().empty() ? std::string_view(tls->error()) : reason;
    error.message = why.empty() ? "the server closed the connection during the TLS handshake"
                                : tls_failure_message(why);
  } else {
    error.kind = ClientErrorKind::connection_lost;
    const std::string when = buffer_.empty() ? "before answering the WebSocket handshake"
                                             : "in the middle of its "
                                               "handshake response";
    error.message = reason.empty() ? "the server closed the connection " + when
                                   : "the connection failed " + when + ": " + std::string(reason);
    if (tls == nullptr) {
      if (looks_like_tls_record(buffer_)) {
        error.message = "the server answered in TLS, not HTTP, and closed the connection" +
                        std::string(tls_question);
      } else if (buffer_.empty() &&
                 std::chrono::steady_clock::now() - request_sent_ < closed_at_once) {
        error.message += tls_question;
      }
    }
  }
  listener_.handshake_failed(std::move(error));
  // The session releases itself after this returns.
}

}  // namespace wsx::client_detail
