#include "server/upgrade_handshake.hpp"

#include <utility>
#include <vector>

#include "server/csrf_gate.hpp"
#include "server/poll_request.hpp"
#include "server/poll_response.hpp"
#include "server/poll_session_id.hpp"
#include "session/callback_exception.hpp"
#include "session/connection_metrics.hpp"

namespace wsx::server {
namespace {

proto::HttpResponse plain_response(int status, std::string body = {}) {
  proto::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  if (!response.body.empty()) response.headers.emplace_back("Content-Type", "text/plain");
  return response;
}

// The value of the Sec-WebSocket-Extensions line of a serialized 101, empty if it has none.
std::string_view answered_extensions(std::string_view response) {
  constexpr std::string_view name = "\r\nSec-WebSocket-Extensions: ";
  const std::size_t start = response.find(name);
  if (start == std::string_view::npos) return {};
  const std::string_view rest = response.substr(start + name.size());
  return rest.substr(0, rest.find("\r\n"));
}

// A request's answer for an exception in the application's decision or handler: no detail,
// what() may hold secrets (the error hook gets it).
proto::HttpResponse internal_error() {
  return plain_response(500, "internal server error\n");
}

// What the route's upgrade callback sees; its views point into `head`, `request` and `remote`.
UpgradeRequest request_view(const proto::HttpHead& head, const proto::UpgradeRequest& request,
                            std::string_view remote) {
  UpgradeRequest view;
  view.method = head.method;
  view.target = request.target;
  view.path = request.path;
  view.query = request.query;
  view.host = request.host;
  view.origin = request.origin;
  view.remote_address = remote;
  view.subprotocols = request.subprotocols;
  view.head = &head;
  return view;
}

std::span<std::uint8_t> writable_bytes(std::string& bytes) {
  return {reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()};
}

}  // namespace

void log_access(const ServerShared& shared, session::Session& session, AccessRecord& record,
                const proto::HttpHead* head) {
  if (!shared.options.access_log) return;
  const std::string remote = session.remote_address();
  record.remote_address = remote;
  if (head != nullptr) {
    record.method = head->method;
    record.target = head->target;
    record.origin = head->header("Origin");
  }
  try {
    shared.options.access_log(record);
  } catch (...) {
    // The answer stands; only the log line is lost.
    // The route field is the request's path, from the parse the router and handshake use; a
    // target that does not parse (answered 400) reports none.
    const std::optional<proto::RequestTarget> target = proto::parse_request_target(record.target);
    session::report_current_exception(&shared.options.error_hook, "access_log",
                                      target ? target->path : std::string_view{}, remote);
  }
}

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
  log_access(shared, session, record, head);
  session.write_raw(bytes);
  session.reject();
}

void UpgradeHandshake::refuse(ServerShared& shared, session::Session& session, int status) {
  respond(shared, session, plain_response(status), nullptr);
}

void UpgradeHandshake::refuse_client(ServerShared& shared, session::Session& session,
                                     const AddressLimiter::Admission& admission) {
  const bool too_fast = admission.verdict == AddressLimiter::Verdict::too_fast;
  const std::string_view reason = too_fast ? "handshake rate of this address exceeded"
                                           : "too many connections from this address";
  proto::HttpResponse response = plain_response(too_fast ? 429 : 503, std::string(reason) + "\n");
  response.headers.emplace_back("Retry-After", std::to_string(admission.retry_after.count()));
  respond(shared, session, response, nullptr, reason);
}

void UpgradeHandshake::answer_plain_http(session::Session& session, const proto::HttpHead& head,
                                         const proto::RequestTarget& target) {
  const std::string remote = session.remote_address();
  HttpRequest request;
  request.method = head.method;
  request.target = head.target;
  request.path = target.path;
  request.query = target.query;
  request.remote_address = remote;
  request.head = &head;
  proto::HttpResponse response;
  try {
    response = shared_.options.http(request);
  } catch (...) {
    session::report_current_exception(&shared_.options.error_hook, "http", target.path, remote);
    response = internal_error();
  }
  respond(shared_, session, response, &head, {}, false);
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
  // One parse of the target for the route, the http handler and the handshake (which parses
  // it again with the same function): a target one of them would refuse reaches none of them.
  const std::optional<proto::RequestTarget> target = proto::parse_request_target(head.target);
  if (!target) {
    respond(shared_, session,
            plain_response(400, std::string(describe(proto::UpgradeError::bad_target)) + "\n"),
            &head);
    return;
  }
  const Route* route = shared_.router.match(target->path);
  if (route == nullptr) {
    if (shared_.options.http && !head.header("Upgrade")) {
      answer_plain_http(session, head, *target);
      return;
    }
    respond(shared_, session, plain_response(404, "no WebSocket endpoint at this path\n"), &head);
    return;
  }
  if (route->behavior.long_polling && is_poll_query(target->query)) {
    poll_request(session, *route, head, std::string_view(base, head_size), *target, rest);
    return;
  }
  session.set_config(route->config);
  proto::UpgradeCheck check = proto::check_upgrade_request(head);
  if (check.error != proto::UpgradeError::none) {
    respond(shared_, session, check.rejection,
            &head);  // 426 for plain HTTP, 400 for a broken handshake
    return;
  }
  proto::UpgradeRequest& request = *check.request;
  const Behavior& behavior = route->behavior;
  if (!behavior.origin.permits(request.origin, request.host)) {
    respond(shared_, session, plain_response(403, "origin not allowed\n"), &head);
    return;
  }
  if (behavior.csrf) {
    const CsrfVerdict verdict = check_csrf(*behavior.csrf, request);
    if (verdict != CsrfVerdict::valid) {
      const std::string_view reason = describe(verdict);
      respond(shared_, session, plain_response(403, std::string(reason) + "\n"), &head, reason);
      return;
    }
  }
  drop_csrf_subprotocols(request.subprotocols);
  if (behavior.upgrade_async) {
    wait_for_decision(session, *route, std::string_view(base, head_size), rest);
    return;
  }
  UpgradeDecision decision;
  if (behavior.upgrade) {
    const std::string remote = session.remote_address();
    try {
      decision = behavior.upgrade(request_view(head, request, remote));
    } catch (...) {
      session::report_current_exception(&shared_.options.error_hook, "upgrade", route->pattern,
                                        remote);
      respond(shared_, session, internal_error(), &head);
      return;
    }
  }
  // `rest` (frames the client sent right behind its request) lives in `data` or `buffer_`,
  // both valid until this call returns.
  apply(session, *route, request, std::move(decision), rest);
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
      poll_open_ ? request_of(parser_.head())
                 : proto::check_upgrade_request(parser_.head()).request;
  if (!request) {
    session.abort();  // likewise
    return;
  }
  drop_csrf_subprotocols(request->subprotocols);
  waiting->request = std::move(*request);
  waiting->pending = std::make_shared<detail::PendingUpgrade>();
  waiting->pending->loop = session.loop().handle();
  waiting->pending->handshake = this;
  waiting->pending->session = &session;
  waiting_ = std::move(waiting);
  const std::string remote = session.remote_address();
  try {
    route.behavior.upgrade_async(request_view(parser_.head(), waiting_->request, remote),
                                 UpgradeResponder(waiting_->pending));
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

void UpgradeHandshake::decide_later(detail::PendingUpgrade& pending, UpgradeDecision decision) {
  if (pending.handshake == nullptr) return;  // the connection no longer waits
  UpgradeHandshake& handshake = *pending.handshake;
  session::Session& session = *pending.session;
  // An entry point of the session: whatever the decision does to it, it is released safely.
  session.run([&](WebSocket&) {
    handshake.stop_waiting();
    Waiting& waiting = *handshake.waiting_;
    handshake.apply(session, *waiting.route, waiting.request, std::move(decision),
                    writable_bytes(waiting.early_data));
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
  detail::PendingUpgrade& pending = *waiting_->pending;
  pending.handshake = nullptr;
  pending.session = nullptr;
  pending.waiting.store(false, std::memory_order_release);
  waiting_->pending.reset();
}

void UpgradeHandshake::apply(session::Session& session, const Route& route,
                             const proto::UpgradeRequest& request, UpgradeDecision decision,
                             std::span<std::uint8_t> rest) {
  const proto::HttpHead& head = parser_.head();
  if (!decision.accepted) {
    proto::HttpResponse response;
    response.status = decision.status;
    response.headers = std::move(decision.headers);
    response.body = std::move(decision.body);
    respond(shared_, session, response, &head);
    return;
  }
  if (poll_open_) {
    open_poll_session(session, route, request, std::move(decision), rest);
    return;
  }
  proto::AcceptOptions accept;
  if (!decision.subprotocol.empty()) {
    accept.subprotocols.push_back(std::move(decision.subprotocol));
  } else {
    accept.subprotocols = route.behavior.subprotocols;
  }
  accept.deflate = route.behavior.deflate;
  accept.extra_headers = std::move(decision.headers);
  proto::Accepted accepted = proto::accept_upgrade(request, accept);
  session.write_raw(accepted.response);
  if (session::ConnectionMetrics* metrics = session.metrics()) metrics->upgrade_answered(101);
  AccessRecord record;
  record.status = 101;
  record.subprotocol = accepted.subprotocol ? std::string_view(*accepted.subprotocol) : "";
  record.extensions = answered_extensions(accepted.response);
  log_access(shared_, session, record, &head);
  session::OpenParams params;
  params.role = proto::Role::server;
  params.deflate = accepted.deflate;
  params.subprotocol = accepted.subprotocol.value_or(std::string());
  params.user_data = std::move(decision.user_data);
  session.open(std::move(params), rest);
}

}  // namespace wsx::server
