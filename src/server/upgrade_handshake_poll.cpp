// UpgradeHandshake's long-polling requests (docs/long-polling-protocol.md): the open runs the
// very checks and decisions of an upgrade, then opens a session on this thread instead of
// answering 101; sends and recvs go to a PollExchange; answered requests keep the connection.
#include <utility>

#include "server/poll_admission.hpp"
#include "server/poll_request.hpp"
#include "server/poll_response.hpp"
#include "server/upgrade_handshake.hpp"

namespace wsx::server {
namespace {

bool keeps_alive(const proto::HttpHead& head) {
  return head.version_minor >= 1 && !head.has_token("Connection", "close");
}

}  // namespace

PollHub* UpgradeHandshake::hub_here(session::Session& session) const noexcept {
  return poll_hub_on(shared_, session.loop());
}

void UpgradeHandshake::refuse_poll(session::Session& session, int status, std::string_view reason,
                                   const proto::HttpHead* head) {
  respond(shared_, session, poll_refusal_response(status, reason), head, reason, false);
}

void UpgradeHandshake::poll_request(session::Session& session, const Route& route,
                                    const proto::HttpHead& head, std::string_view head_bytes,
                                    const proto::RequestTarget& target,
                                    std::span<std::uint8_t> rest) {
  PollHub* hub = hub_here(session);
  const PollClassification classified =
      screen_poll_request(shared_, route, head, target.query, hub);
  if (!classified.request) {
    refuse_poll(session, classified.status, classified.reason, &head);
    return;
  }
  if (classified.request->kind != PollKind::open) {
    if (!poll_) poll_ = std::make_unique<PollExchange>(shared_, *this, *hub);
    poll_->start(session, route, head, *classified.request, rest);
    return;
  }
  std::optional<proto::UpgradeRequest> request = poll_open_request(head);
  if (!request) {
    refuse_poll(session, 400, "malformed long-polling open", &head);
    return;
  }
  // From here on the open meets what an upgrade meets (request_gate): Origin, CSRF, and the
  // route's decision, synchronous or not.
  session.set_config(route.config);
  GateOutcome refused;
  if (!admit(route.behavior, *request, refused)) {
    respond(shared_, session, refused.response, &head, refused.reason);
    return;
  }
  poll_open_ = true;
  if (route.behavior.upgrade_async) {
    wait_for_decision(session, route, head_bytes, rest);
    return;
  }
  std::optional<UpgradeDecision> decision =
      decide_now(shared_, route, head, *request, session.remote_address());
  if (!decision) {
    respond(shared_, session, internal_error(), &head);
    return;
  }
  apply(session, route, *request, std::move(*decision), rest);
}

void UpgradeHandshake::open_poll_session(session::Session& session, const Route& route,
                                         const proto::UpgradeRequest& request,
                                         UpgradeDecision decision, std::span<std::uint8_t> rest) {
  const proto::HttpHead& head = parser_.head();
  PollOpenAnswer answer =
      server::open_poll_session(shared_, *hub_here(session), route, request, std::move(decision),
                                peer_, session.remote_address());
  if (answer.status != 200) {
    refuse_poll(session, answer.status, answer.reason, &head);
    return;
  }
  PollResponse response;
  response.status = 200;
  response.content_type = "application/json";
  response.body = {reinterpret_cast<const std::uint8_t*>(answer.body.data()), answer.body.size()};
  response.keep_alive = keeps_alive(head) && rest.empty();
  AccessRecord record;
  record.status = 200;
  record.subprotocol = answer.subprotocol;
  record.body_size = answer.body.size();
  record.transport = Transport::long_polling;
  log_access(shared_, session.remote_address(), record, &head);
  session.write_raw(serialize_poll_response(response));
  poll_answered(session, response.keep_alive);
}

bool UpgradeHandshake::on_going_away(session::Session&) {
  const bool busy = poll_ && poll_->busy();
  if (!busy && (!kept_alive_ || stopping_)) return false;  // dropped now
  if (stopping_) close_after_answer_ = true;
  stopping_ = true;
  return true;
}

void UpgradeHandshake::poll_answered(session::Session& session, bool keep_alive) {
  poll_open_ = false;
  if (close_after_answer_) keep_alive = false;
  if (!keep_alive) {
    session.reject();  // a lingering close: the answer is not lost to a reset
    return;
  }
  kept_alive_ = true;
  parser_.reset();
  buffer_.clear();
  cancel_idle_timer();
  if (shared_.options.handshake_timeout <= std::chrono::milliseconds::zero()) return;
  idle_loop_ = &session.loop();
  idle_timer_ = idle_loop_->run_after(shared_.options.handshake_timeout, [this, &session] {
    idle_timer_ = 0;
    if (poll_ && poll_->waiting()) return;  // a held recv: re-armed once it is answered
    session.run([&session](WebSocket&) { session.abort(); });
  });
}

void UpgradeHandshake::cancel_idle_timer() noexcept {
  if (idle_timer_ != 0 && idle_loop_ != nullptr) idle_loop_->cancel(idle_timer_);
  idle_timer_ = 0;
}

}  // namespace wsx::server
