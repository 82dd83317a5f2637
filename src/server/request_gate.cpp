#include "server/request_gate.hpp"

#include <algorithm>
#include <utility>

#include "server/csrf_gate.hpp"
#include "server/poll_request.hpp"
#include "server/poll_response.hpp"
#include "session/callback_exception.hpp"

namespace wsx::server {

bool tries_websocket(const proto::HttpHead& head) noexcept {
  return head.version_major == 2 ? !head.protocol.empty() : head.header("Upgrade").has_value();
}

proto::HttpResponse plain_response(int status, std::string body) {
  proto::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  if (!response.body.empty()) {
    response.headers.emplace_back("Content-Type", proto::plain_text_content_type);
  }
  return response;
}

proto::HttpResponse client_refusal(const AddressLimiter::Admission& admission,
                                   std::string_view& reason) {
  const bool too_fast = admission.verdict == AddressLimiter::Verdict::too_fast;
  reason = too_fast ? "handshake rate of this address exceeded"
                    : "too many connections from this address";
  proto::HttpResponse response = plain_response(too_fast ? 429 : 503, std::string(reason) + "\n");
  response.headers.emplace_back("Retry-After", std::to_string(admission.retry_after.count()));
  return response;
}

proto::HttpResponse internal_error() {
  return plain_response(500, "internal server error\n");
}

GateOutcome pass_gate(const ServerShared& shared, const proto::HttpHead& head) {
  GateOutcome outcome;
  // One parse of the target for the route, the http handler and the handshake (which parses
  // it again with the same function): a target one of them would refuse reaches none of them.
  outcome.target = proto::parse_request_target(head.target);
  if (!outcome.target) {
    outcome.response =
        plain_response(400, std::string(describe(proto::UpgradeError::bad_target)) + "\n");
    return outcome;
  }
  outcome.route = shared.router.match(outcome.target->path);
  if (outcome.route == nullptr) {
    if (shared.options.http && !tries_websocket(head)) {
      outcome.kind = GateOutcome::Kind::plain_http;
      return outcome;
    }
    outcome.response = plain_response(404, "no WebSocket endpoint at this path\n");
    return outcome;
  }
  // Before the handshake checks: a polling request has no Upgrade header (its open meets
  // admit() once the owner has classified it).
  if (outcome.route->behavior.long_polling && is_poll_query(outcome.target->query)) {
    outcome.kind = GateOutcome::Kind::long_polling;
    return outcome;
  }
  proto::UpgradeCheck check = proto::check_upgrade_request(head);
  if (check.error != proto::UpgradeError::none) {
    outcome.response = std::move(check.rejection);  // 426 for plain HTTP, 400 for a broken one
    return outcome;
  }
  if (!admit(outcome.route->behavior, *check.request, outcome)) return outcome;
  outcome.kind = GateOutcome::Kind::upgrade;
  outcome.request = std::move(check.request);
  return outcome;
}

bool admit(const Behavior& behavior, proto::UpgradeRequest& request, GateOutcome& refused) {
  if (!behavior.origin.permits(request.origin, request.host)) {
    refused.kind = GateOutcome::Kind::refuse;
    // In access_log too: a 403 may also be a CSRF refusal, and the log must tell which.
    refused.reason = "origin not allowed";
    refused.response = plain_response(403, std::string(refused.reason) + "\n");
    return false;
  }
  if (behavior.csrf) {
    const CsrfVerdict verdict = check_csrf(*behavior.csrf, request);
    if (verdict != CsrfVerdict::valid) {
      refused.kind = GateOutcome::Kind::refuse;
      refused.reason = describe(verdict);
      refused.response = plain_response(403, std::string(refused.reason) + "\n");
      return false;
    }
  }
  drop_csrf_subprotocols(request.subprotocols);
  return true;
}

std::optional<proto::UpgradeRequest> poll_open_request(const proto::HttpHead& head) {
  const std::optional<proto::RequestTarget> target = proto::parse_request_target(head.target);
  const std::optional<std::string_view> host = head.header("Host");
  if (!target || !host || head.count("Host") != 1 || !proto::is_valid_authority(*host) ||
      head.count("Origin") > 1) {
    return std::nullopt;
  }
  proto::UpgradeRequest request;
  request.head = &head;
  request.target = target->target;
  request.path = target->path;
  request.query = target->query;
  request.host = *host;
  request.origin = head.header("Origin");
  // Wsx-Protocol stands for Sec-WebSocket-Protocol (fetch() may not set Sec- headers): the same
  // rule, a list of distinct tokens.
  for (const proto::HttpHeader& header : head.headers) {
    if (!proto::iequals(header.name, poll_protocol_header)) continue;
    for (const std::string_view offered : proto::split_list(header.value)) {
      if (!proto::is_token(offered) ||
          std::find(request.subprotocols.begin(), request.subprotocols.end(), offered) !=
              request.subprotocols.end()) {
        return std::nullopt;
      }
      request.subprotocols.push_back(offered);
    }
  }
  return request;
}

proto::HttpResponse serve_plain_http(const ServerShared& shared, const proto::HttpHead& head,
                                     const proto::RequestTarget& target, std::string_view remote) {
  HttpRequest request;
  request.method = head.method;
  request.target = head.target;
  request.path = target.path;
  request.query = target.query;
  request.remote_address = remote;
  request.head = &head;
  try {
    return shared.options.http(request);
  } catch (...) {
    session::report_current_exception(&shared.options.error_hook, "http", target.path, remote);
    return internal_error();
  }
}

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

std::optional<UpgradeDecision> decide_now(const ServerShared& shared, const Route& route,
                                          const proto::HttpHead& head,
                                          const proto::UpgradeRequest& request,
                                          std::string_view remote) {
  if (!route.behavior.upgrade) return UpgradeDecision{};
  try {
    return route.behavior.upgrade(request_view(head, request, remote));
  } catch (...) {
    session::report_current_exception(&shared.options.error_hook, "upgrade", route.pattern, remote);
    return std::nullopt;
  }
}

proto::AcceptOptions accept_options(const Route& route, UpgradeDecision& decision) {
  proto::AcceptOptions accept;
  if (!decision.subprotocol.empty()) {
    accept.subprotocols.push_back(std::move(decision.subprotocol));
  } else {
    accept.subprotocols = route.behavior.subprotocols;
  }
  accept.deflate = route.behavior.deflate;
  accept.extra_headers = std::move(decision.headers);
  return accept;
}

proto::HttpResponse rejection(UpgradeDecision& decision) {
  proto::HttpResponse response;
  response.status = decision.status;
  response.headers = std::move(decision.headers);
  response.body = std::move(decision.body);
  return response;
}

proto::HttpResponse poll_refusal_response(int status, std::string_view reason) {
  proto::HttpResponse response;
  response.status = status;
  response.headers = {{"Content-Type", "application/json"},
                      {"Cache-Control", "no-store"},
                      {"X-Content-Type-Options", "nosniff"}};
  if (status == 405) response.headers.emplace_back("Allow", "GET, POST");
  if (status == 503) response.headers.emplace_back("Retry-After", "5");
  response.body = poll_error_json(reason);
  return response;
}

void log_access(const ServerShared& shared, std::string_view remote, AccessRecord& record,
                const proto::HttpHead* head) {
  if (!shared.options.access_log) return;
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

void deliver_decision(detail::PendingUpgrade& pending, UpgradeDecision decision) {
  if (pending.waiter != nullptr) pending.waiter->decided(std::move(decision));
}

std::shared_ptr<detail::PendingUpgrade> make_pending(io::LoopHandle loop, UpgradeWaiter& waiter) {
  auto pending = std::make_shared<detail::PendingUpgrade>();
  pending->loop = std::move(loop);
  pending->waiter = &waiter;
  return pending;
}

void cancel_pending(detail::PendingUpgrade& pending) noexcept {
  pending.waiter = nullptr;
  pending.waiting.store(false, std::memory_order_release);
}

}  // namespace wsx::server
