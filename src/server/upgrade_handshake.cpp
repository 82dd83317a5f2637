#include "server/upgrade_handshake.hpp"

#include <utility>
#include <vector>

#include "server/csrf_gate.hpp"
#include "session/callback_exception.hpp"
#include "session/connection_metrics.hpp"

namespace wsx::server {
namespace {

// The value of the Sec-WebSocket-Extensions line of a serialized 101, empty if it has none.
std::string_view answered_extensions(std::string_view response) {
  constexpr std::string_view name = "\r\nSec-WebSocket-Extensions: ";
  const std::size_t start = response.find(name);
  if (start == std::string_view::npos) return {};
  const std::string_view rest = response.substr(start + name.size());
  return rest.substr(0, rest.find("\r\n"));
}

std::span<std::uint8_t> writable_bytes(std::string& bytes) {
  return {reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()};
}

}  // namespace

UpgradeHandshake::UpgradeHandshake(ServerShared& shared, const io::SocketAddress& peer)
    : shared_(shared),
      peer_(peer),
      parser_(proto::HttpKind::request,
              proto::HttpLimits{shared.options.max_head_size, shared.options.max_headers}) {}

UpgradeHandshake::~UpgradeHandshake() {
  stop_waiting();
  cancel_idle_timer();
}

// Without this, a client that cannot connect over wss:// (plain HTTP to the port, a CA it does
// not trust, no common cipher) leaves no trace on the server, and its operator no clue.
void UpgradeHandshake::on_failed(session::Session& session, std::string_view reason) {
  const io::TlsSession* tls = session.carrier().tls();
  if (tls == nullptr || tls->handshake_done() || tls->state() != io::TlsState::failed) return;
  std::string_view message = tls->error().empty() ? reason : std::string_view(tls->error());
  // The report names its source already ("TLS handshake failed"): OpenSSL's reason is the rest.
  constexpr std::string_view said_already = "TLS handshake failed: ";
  if (message.starts_with(said_already)) message.remove_prefix(said_already.size());
  const std::string remote = peer_.to_string();
  report_error(
      shared_.options.error_hook,
      {.source = ErrorSource::tls_handshake, .message = message, .remote_address = remote});
}

void UpgradeHandshake::respond(ServerShared& shared, session::Session& session,
                               const proto::HttpResponse& response, const proto::HttpHead* head,
                               std::string_view reason, bool upgrade) {
  std::string bytes = proto::serialize(response);
  // HEAD: the same head (Content-Length included), no body (RFC 9110 §9.3.2).
  if (head != nullptr && head->method == "HEAD") bytes.resize(bytes.find("\r\n\r\n") + 4);
  // Plain HTTP (ServerOptions::http) is no upgrade: only WebSocket-side answers are counted.
  if (upgrade) {
    if (session::ConnectionMetrics* metrics = session.metrics()) {
      metrics->upgrade_answered(response.status);
    }
  }
  AccessRecord record;  // before reject(), which may release the session
  record.status = response.status;
  record.body_size = response.body.size();
  record.reason = reason;
  log_access(shared, session.remote_address(), record, head);
  session.write_raw(bytes);
  session.reject();
}

void UpgradeHandshake::refuse(ServerShared& shared, session::Session& session, int status) {
  respond(shared, session, plain_response(status), nullptr);
}

void UpgradeHandshake::refuse_client(ServerShared& shared, session::Session& session,
                                     const AddressLimiter::Admission& admission) {
  std::string_view reason;
  const proto::HttpResponse response = client_refusal(admission, reason);
  respond(shared, session, response, nullptr, reason);
}

void UpgradeHandshake::refuse_with(ServerShared& shared, session::Session& session,
                                   const AcceptRefusal& refusal) {
  respond(shared, session, refusal.response, nullptr, refusal.reason);
}

void UpgradeHandshake::on_data(session::Session& session, std::span<std::uint8_t> data) {
  if (poll_ && poll_->busy()) {
    poll_->on_data(session, data);
    return;
  }
  if (waiting_) {
    keep_early_data(session, data);
    return;
  }
  // Usually the whole head arrives in one read: parse it where it lies, copy nothing.
  const bool in_place = buffer_.empty();
  if (!in_place) buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
  char* base = in_place ? reinterpret_cast<char*>(data.data()) : buffer_.data();
  const std::size_t size = in_place ? data.size() : buffer_.size();
  switch (parser_.parse(base, size)) {
    case proto::HttpParseStatus::need_more:
      if (in_place) buffer_.assign(base, size);
      return;
    case proto::HttpParseStatus::error: {
      const proto::HttpError error = parser_.error();
      const bool too_large =
          error == proto::HttpError::head_too_large || error == proto::HttpError::too_many_headers;
      respond(shared_, session, plain_response(too_large ? 431 : 400, std::string(describe(error))),
              nullptr);
      return;
    }
    case proto::HttpParseStatus::complete:
      break;
  }
  const std::size_t head_size = parser_.head_size();
  const std::span<std::uint8_t> rest(reinterpret_cast<std::uint8_t*>(base) + head_size,
                                     size - head_size);
  const proto::HttpHead& head = parser_.head();
  GateOutcome gate = pass_gate(shared_, head);
  // A polling request's connection is no WebSocket: only an open takes the route's settings.
  if (gate.route != nullptr && gate.kind != GateOutcome::Kind::long_polling) {
    session.set_config(gate.route->config);
  }
  switch (gate.kind) {
    case GateOutcome::Kind::refuse:
      respond(shared_, session, gate.response, &head, gate.reason);
      return;
    case GateOutcome::Kind::plain_http:
      respond(shared_, session,
              serve_plain_http(shared_, head, *gate.target, session.remote_address()), &head, {},
              false);
      return;
    case GateOutcome::Kind::long_polling:
      poll_request(session, *gate.route, head, std::string_view(base, head_size), *gate.target,
                   rest);
      return;
    case GateOutcome::Kind::upgrade:
      break;
  }
  const Route& route = *gate.route;
  if (route.behavior.upgrade_async) {
    wait_for_decision(session, route, std::string_view(base, head_size), rest);
    return;
  }
  // The peer's address as accept() gave it: remote_address() would ask the kernel again
  // (getpeername), and a route without an upgrade callback never reads it.
  std::optional<UpgradeDecision> decision = decide_now(
      shared_, route, head, *gate.request, route.behavior.upgrade ? peer_.to_string() : "");
  if (!decision) {
    respond(shared_, session, internal_error(), &head);
    return;
  }
  // `rest` (frames the client sent right behind its request) lives in `data` or `buffer_`,
  // both valid until this call returns.
  apply(session, route, *gate.request, std::move(*decision), rest);
}

void UpgradeHandshake::wait_for_decision(session::Session& session, const Route& route,
                                         std::string_view head,
                                         std::span<const std::uint8_t> rest) {
  if (rest.size() > shared_.options.max_early_data) {
    session.abort();
    return;
  }
  auto waiting = std::make_unique<Waiting>();
  waiting->route = &route;
  waiting->early_data.assign(reinterpret_cast<const char*>(rest.data()), rest.size());
  // The head may lie in the read buffer, which the next read reuses: keep a copy and parse it
  // again there, so that the request's views stay valid until the decision comes.
  std::string kept(head);
  buffer_ = std::move(kept);
  parser_.reset();
  if (parser_.parse(buffer_.data(), buffer_.size()) != proto::HttpParseStatus::complete) {
    session.abort();  // the same bytes parsed a moment ago: cannot happen
    return;
  }
  std::optional<proto::UpgradeRequest> request =
      poll_open_ ? poll_open_request(parser_.head())
                 : proto::check_upgrade_request(parser_.head()).request;
  if (!request) {
    session.abort();  // likewise
    return;
  }
  drop_csrf_subprotocols(request->subprotocols);
  waiting->request = std::move(*request);
  waiting->pending = make_pending(session.loop().handle(), *this);
  waiting->session = &session;
  waiting_ = std::move(waiting);
  const std::string remote = session.remote_address();
  try {
    route.behavior.upgrade_async(request_view(parser_.head(), waiting_->request, remote),
                                 ResponderFactory::make(waiting_->pending));
  } catch (...) {
    // A responder the callback kept (or the one it dropped) now answers nothing.
    stop_waiting();
    session::report_current_exception(&shared_.options.error_hook, "upgrade_async", route.pattern,
                                      remote);
    respond(shared_, session, internal_error(), &parser_.head());
  }
}

void UpgradeHandshake::keep_early_data(session::Session& session,
                                       std::span<const std::uint8_t> data) {
  std::string& kept = waiting_->early_data;
  if (data.size() > shared_.options.max_early_data - kept.size()) {
    session.abort();
    return;
  }
  kept.append(reinterpret_cast<const char*>(data.data()), data.size());
}

void UpgradeHandshake::decided(UpgradeDecision decision) {
  session::Session& session = *waiting_->session;
  // An entry point of the session: whatever the decision does to it, it is released safely.
  session.run([&](WebSocket&) {
    stop_waiting();
    // No longer waiting: a long-polling open keeps its connection, whose next request must be
    // read as a request, not kept as early data. The request and its bytes live here meanwhile.
    const std::unique_ptr<Waiting> waiting = std::move(waiting_);
    apply(session, *waiting->route, waiting->request, std::move(decision),
          writable_bytes(waiting->early_data));
  });
}

void UpgradeHandshake::on_timeout(session::Session& session) {
  // Long polling: a held recv is answered within the route's poll interval, and a kept-alive
  // connection has its own idle timer (poll_answered).
  if (kept_alive_ || (poll_ && poll_->waiting())) return;
  if (!waiting_ || !waiting_->pending) {
    session.abort();
    return;
  }
  // The client sent a whole request and waited: tell it we were the slow ones.
  stop_waiting();
  respond(shared_, session, plain_response(503, "the upgrade decision took too long\n"),
          &parser_.head());
}

void UpgradeHandshake::stop_waiting() noexcept {
  if (!waiting_ || !waiting_->pending) return;
  cancel_pending(*waiting_->pending);
  waiting_->pending.reset();
}

void UpgradeHandshake::apply(session::Session& session, const Route& route,
                             const proto::UpgradeRequest& request, UpgradeDecision decision,
                             std::span<std::uint8_t> rest) {
  const proto::HttpHead& head = parser_.head();
  if (!decision.accepted) {
    respond(shared_, session, rejection(decision), &head);
    return;
  }
  if (poll_open_) {
    open_poll_session(session, route, request, std::move(decision), rest);
    return;
  }
  // The 101 is written to the socket at once or copied to the session's queue, so one buffer
  // per thread, kept with its capacity, serves every handshake: no allocation for the answer.
  thread_local std::string response;
  response.clear();
  proto::UpgradeAgreement agreed =
      proto::append_upgrade_response(request, accept_options(route, decision), response);
  session.write_raw(response);
  if (session::ConnectionMetrics* metrics = session.metrics()) metrics->upgrade_answered(101);
  if (shared_.options.access_log) {  // its fields cost a system call (the address) and a search
    AccessRecord record;
    record.status = 101;
    record.subprotocol = agreed.subprotocol ? std::string_view(*agreed.subprotocol) : "";
    record.extensions = answered_extensions(response);
    log_access(shared_, peer_.to_string(), record, &head);
  }
  session::OpenParams params;
  params.role = proto::Role::server;
  params.deflate = agreed.deflate;
  params.subprotocol = std::move(agreed.subprotocol).value_or(std::string());
  params.user_data = std::move(decision.user_data);
  session.open(std::move(params), rest);
}

}  // namespace wsx::server
