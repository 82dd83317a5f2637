// H2ServerConnection's long-polling requests (docs/long-polling-protocol.md): what
// upgrade_handshake_poll.cpp does for an HTTP/1.1 connection, on a stream. An open runs the
// very checks and decision of an extended CONNECT, then makes its session on this thread; a send
// or recv goes to its session's thread and comes back as the stream's answer. The connection
// itself is no session's: its streams may carry several sessions' requests at once.
#include <utility>

#include "server/h2_server_connection.hpp"
#include "server/poll_admission.hpp"

namespace wsx::server {

H2PollExchange* H2ServerConnection::poll_of(std::int32_t stream_id) noexcept {
  const auto it = polls_.find(stream_id);
  return it == polls_.end() ? nullptr : it->second.get();
}

void H2ServerConnection::poll_request(std::int32_t stream_id, const Route& route,
                                      const proto::HttpHead& head,
                                      const proto::RequestTarget& target) {
  carried_polling_ = true;
  PollHub* hub = poll_hub_on(shared_, loop_);
  const PollClassification classified =
      screen_poll_request(shared_, route, head, target.query, hub);
  if (!classified.request) {
    respond(stream_id, head, poll_refusal_response(classified.status, classified.reason),
            classified.reason);
    return;
  }
  if (classified.request->kind != PollKind::open) {
    // `head` lives as long as the stream, and the exchange no longer than the stream.
    auto exchange = std::make_unique<H2PollExchange>(
        shared_, *hub, loop_.handle(), route, head, *classified.request,
        [this, stream_id, &head](PollOutcome outcome) {
          poll_answered(stream_id, head, std::move(outcome));
        });
    H2PollExchange& kept = *exchange;
    polls_[stream_id] = std::move(exchange);
    kept.start();
    return;
  }
  std::optional<proto::UpgradeRequest> request = poll_open_request(head);
  if (!request) {
    constexpr std::string_view reason = "malformed long-polling open";
    respond(stream_id, head, poll_refusal_response(400, reason), reason);
    return;
  }
  // From here on the open meets what an upgrade meets (request_gate): Origin, CSRF, and the
  // route's decision, synchronous or not.
  GateOutcome refused;
  if (!admit(route.behavior, *request, refused)) {
    respond(stream_id, head, refused.response, refused.reason);
    return;
  }
  if (route.behavior.upgrade_async) {
    wait_for_decision(stream_id, route, head, std::move(*request), true);
    return;
  }
  std::optional<UpgradeDecision> decision = decide_now(shared_, route, head, *request, remote_);
  if (!decision) {
    respond(stream_id, head, internal_error());
    return;
  }
  open_poll(stream_id, route, head, *request, std::move(*decision));
}

void H2ServerConnection::open_poll(std::int32_t stream_id, const Route& route,
                                   const proto::HttpHead& head,
                                   const proto::UpgradeRequest& request, UpgradeDecision decision) {
  if (!decision.accepted) {
    respond(stream_id, head, rejection(decision));
    return;
  }
  PollHub* hub = poll_hub_on(shared_, loop_);
  const io::SocketAddress peer = stream_->socket().peer_address();
  PollOpenAnswer answer = hub == nullptr ? PollOpenAnswer{503, "long polling is not available"}
                                         : open_poll_session(shared_, *hub, route, request,
                                                             std::move(decision), peer, remote_);
  if (answer.status != 200) {
    respond(stream_id, head, poll_refusal_response(answer.status, answer.reason), answer.reason);
    return;
  }
  PollOutcome outcome;
  outcome.content_type = "application/json";
  outcome.body = std::move(answer.body);
  respond_poll(stream_id, head, poll_outcome_response(outcome), {}, answer.subprotocol);
}

void H2ServerConnection::respond_poll(std::int32_t stream_id, const proto::HttpHead& head,
                                      const proto::HttpResponse& response, std::string_view reason,
                                      std::string_view subprotocol) {
  AccessRecord record;
  record.status = response.status;
  record.body_size = response.body.size();
  record.reason = reason;
  record.subprotocol = subprotocol;
  record.transport = Transport::long_polling;
  log_access(shared_, remote_, record, &head);
  h2_.respond(stream_id, response);
}

void H2ServerConnection::poll_answered(std::int32_t stream_id, const proto::HttpHead& head,
                                       PollOutcome outcome) {
  Entry entry(*this);
  // Destroys the exchange (it let go of this call first): the stream ends with its answer.
  polls_.erase(stream_id);
  respond_poll(stream_id, head, poll_outcome_response(outcome), outcome.reason);
  after_io();
}

}  // namespace wsx::server
