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

}  // namespace

UpgradeHandshake::UpgradeHandshake(ServerShared& shared)
    : shared_(shared),
      parser_(proto::HttpKind::request,
              proto::HttpLimits{shared.options.max_head_size, shared.options.max_headers}) {}

void UpgradeHandshake::respond(session::Session& session, const proto::HttpResponse& response) {
  session.write_raw(proto::serialize(response));
  session.reject();
}

void UpgradeHandshake::refuse(session::Session& session, int status) {
  respond(session, plain_response(status));
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
      respond(session, plain_response(too_large ? 431 : 400, std::string(describe(error))));
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
    respond(session, plain_response(404, "no WebSocket endpoint at this path\n"));
    return;
  }
  session.set_config(route->config);
  const proto::UpgradeCheck check = proto::check_upgrade_request(head);
  if (check.error != proto::UpgradeError::none) {
    respond(session, check.rejection);  // 426 for plain HTTP, 400 for a broken handshake
    return;
  }
  const proto::UpgradeRequest& request = *check.request;
  const Behavior& behavior = route->behavior;
  if (!behavior.origin.permits(request.origin, request.host)) {
    respond(session, plain_response(403, "origin not allowed\n"));
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
    respond(session, response);
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
