#include "server/upgrade_handshake.hpp"

#include <utility>
#include <vector>

#include "wsx/proto/handshake.hpp"

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
  shared.options.access_log(record);
}

}  // namespace

UpgradeHandshake::UpgradeHandshake(ServerShared& shared)
    : shared_(shared),
      parser_(proto::HttpKind::request,
              proto::HttpLimits{shared.options.max_head_size, shared.options.max_headers}) {}

void UpgradeHandshake::respond(ServerShared& shared, session::Session& session,
                               const proto::HttpResponse& response, const proto::HttpHead* head) {
  std::string bytes = proto::serialize(response);
  // HEAD: the same head (Content-Length included), no body (RFC 9110 §9.3.2).
  if (head != nullptr && head->method == "HEAD") bytes.resize(bytes.find("\r\n\r\n") + 4);
  AccessRecord record;  // before reject(), which may release the session
  record.status = response.status;
  record.body_size = response.body.size();
  log_access(shared, session, record, head);
  session.write_raw(bytes);
  session.reject();
}

void UpgradeHandshake::refuse(ServerShared& shared, session::Session& session, int status) {
  respond(shared, session, plain_response(status), nullptr);
}

void UpgradeHandshake::answer_plain_http(session::Session& session, const proto::HttpHead& head) {
  const std::string remote = session.remote_address();
  const std::string_view path = target_path(head.target);
  HttpRequest request;
  request.method = head.method;
  request.target = head.target;
  request.path = path;
  const std::size_t question = head.target.find('?');
  if (question != std::string_view::npos) request.query = head.target.substr(question + 1);
  request.remote_address = remote;
  request.head = &head;
  respond(shared_, session, shared_.options.http(request), &head);
}

void UpgradeHandshake::on_data(session::Session& session, std::span<std::uint8_t> data) {
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
  const Route* route = shared_.router.match(target_path(head.target));
  if (route == nullptr) {
    if (shared_.options.http && !head.header("Upgrade")) {
      answer_plain_http(session, head);
      return;
    }
    respond(shared_, session, plain_response(404, "no WebSocket endpoint at this path\n"), &head);
    return;
  }
  session.set_config(route->config);
  const proto::UpgradeCheck check = proto::check_upgrade_request(head);
  if (check.error != proto::UpgradeError::none) {
    respond(shared_, session, check.rejection,
            &head);  // 426 for plain HTTP, 400 for a broken handshake
    return;
  }
  const proto::UpgradeRequest& request = *check.request;
  const Behavior& behavior = route->behavior;
  if (!behavior.origin.permits(request.origin, request.host)) {
    respond(shared_, session, plain_response(403, "origin not allowed\n"), &head);
    return;
  }
  UpgradeDecision decision;
  if (behavior.upgrade) {
    const std::string remote = session.remote_address();
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
    decision = behavior.upgrade(view);
  }
  if (!decision.accepted) {
    proto::HttpResponse response;
    response.status = decision.status;
    response.headers = std::move(decision.headers);
    response.body = std::move(decision.body);
    respond(shared_, session, response, &head);
    return;
  }
  proto::AcceptOptions accept;
  if (!decision.subprotocol.empty()) {
    accept.subprotocols.push_back(std::move(decision.subprotocol));
  } else {
    accept.subprotocols = behavior.subprotocols;
  }
  accept.deflate = behavior.deflate;
  accept.extra_headers = std::move(decision.headers);
  proto::Accepted accepted = proto::accept_upgrade(request, accept);
  session.write_raw(accepted.response);
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
  // `rest` (frames the client sent right behind its request) lives in `data` or `buffer_`,
  // both valid until this call returns.
  session.open(std::move(params), rest);
}

}  // namespace wsx::server
