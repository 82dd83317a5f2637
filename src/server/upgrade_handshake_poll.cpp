// UpgradeHandshake's long-polling requests (docs/long-polling-protocol.md): the open runs the
// very checks and decisions of an upgrade, then opens a session on this thread instead of
// answering 101; sends and recvs go to a PollExchange; answered requests keep the connection.
#include <algorithm>
#include <utility>

#include "server/csrf_gate.hpp"
#include "server/poll_request.hpp"
#include "server/poll_response.hpp"
#include "server/poll_session_id.hpp"
#include "server/upgrade_handshake.hpp"
#include "session/callback_exception.hpp"

namespace wsx::server {
namespace {

bool keeps_alive(const proto::HttpHead& head) {
  return head.version_minor >= 1 && !head.has_token("Connection", "close");
}

}  // namespace

PollHub* UpgradeHandshake::hub_here(session::Session& session) const noexcept {
  for (PollHub* hub : shared_.poll_hubs) {
    if (hub != nullptr && &hub->loop() == &session.loop()) return hub;
  }
  return nullptr;
}

void UpgradeHandshake::refuse_poll(session::Session& session, int status, std::string_view reason,
                                   const proto::HttpHead* head) {
  respond(shared_, session, poll_refusal_response(status, reason), head, reason, false);
}

void UpgradeHandshake::poll_request(session::Session& session, const Route& route,
                                    const proto::HttpHead& head, std::string_view head_bytes,
                                    const proto::RequestTarget& target,
                                    std::span<std::uint8_t> rest) {
  const PollClassification classified =
      classify_poll_request(head, target.query, poll_body_limit(route.behavior.max_message_size));
  if (!classified.request) {
    refuse_poll(session, classified.status, classified.reason, &head);
    return;
  }
  PollHub* hub = hub_here(session);
  if (hub == nullptr) {
    refuse_poll(session, 503, "long polling is not available", &head);
    return;
  }
  if (classified.request->kind != PollKind::open) {
    // A body waits in memory until the session reads it: none is taken while the server is
    // at its memory ceiling.
    const session::BudgetPolicy& budget = shared_.memory.policy();
    const std::int64_t used = shared_.memory.shared_balance();
    if (classified.request->body_size > 0 && budget.limit > 0 && used > 0 &&
        budget.pressure(static_cast<std::size_t>(used)) == session::MemoryPressure::full) {
      refuse_poll(session, 503, "server memory budget exceeded", &head);
      return;
    }
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
  const auto offered = [&](std::string_view name) {
    return std::find(request.subprotocols.begin(), request.subprotocols.end(), name) !=
           request.subprotocols.end();
  };
  std::string chosen;
  if (!decision.subprotocol.empty()) {
    if (offered(decision.subprotocol)) chosen = std::move(decision.subprotocol);
  } else {
    const auto it = std::find_if(route.behavior.subprotocols.begin(),
                                 route.behavior.subprotocols.end(), offered);
    if (it != route.behavior.subprotocols.end()) chosen = *it;
  }
  PollHub* hub = hub_here(session);
  // The session counts against its client's limit like a connection, for as long as it lives
  // (the TCP connections that carry its requests count too, while they are open).
  std::optional<AddressSlot> slot = shared_.address_limits.acquire(peer_);
  if (!slot) {
    refuse_poll(session, 503, "too many connections from this address", &head);
    return;
  }
  const LongPolling& settings = *route.behavior.long_polling;
  PollOpen open;
  open.channel.sid = make_poll_session_id(hub->index());
  open.channel.route = &route;
  if (request.origin) open.channel.binding.origin.emplace(*request.origin);
  if (route.behavior.csrf) {
    if (const std::optional<std::string_view> token = find_csrf_token(request)) {
      open.channel.binding.csrf.emplace(*token);
    }
  }
  open.channel.limits.poll = settings.poll;
  open.channel.limits.timeout = settings.timeout;
  open.channel.remote_address = session.remote_address();
  open.params.role = proto::Role::server;
  open.params.subprotocol = chosen;
  open.params.user_data = std::move(decision.user_data);
  open.slot = std::move(*slot);
  const std::string sid = open.channel.sid;
  bool opened = false;
  try {
    opened = hub->opener && hub->opener(open);
  } catch (...) {
    session::report_current_exception(&shared_.options.error_hook, "open", route.pattern,
                                      open.channel.remote_address);
  }
  if (!opened) {
    refuse_poll(session, 503, "long-polling session not available", &head);
    return;
  }
  const std::string body = poll_open_json(sid, chosen, settings.poll, settings.timeout);
  PollResponse response;
  response.status = 200;
  response.content_type = "application/json";
  response.body = {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
  response.keep_alive = keeps_alive(head) && rest.empty();
  AccessRecord record;
  record.status = 200;
  record.subprotocol = chosen;
  record.body_size = body.size();
  record.transport = Transport::long_polling;
  log_access(shared_, session.remote_address(), record, &head);
  session.write_raw(serialize_poll_response(response));
  poll_answered(session, response.keep_alive);
}

void UpgradeHandshake::poll_answered(session::Session& session, bool keep_alive) {
  poll_open_ = false;
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
