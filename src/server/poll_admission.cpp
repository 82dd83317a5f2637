#include "server/poll_admission.hpp"

#include <algorithm>
#include <utility>

#include "server/csrf_gate.hpp"
#include "server/poll_response.hpp"
#include "server/poll_session_id.hpp"
#include "session/callback_exception.hpp"

namespace wsx::server {

PollHub* poll_hub_on(const ServerShared& shared, const io::EventLoop& loop) noexcept {
  for (PollHub* hub : shared.poll_hubs) {
    if (hub != nullptr && &hub->loop() == &loop) return hub;
  }
  return nullptr;
}

PollClassification screen_poll_request(const ServerShared& shared, const Route& route,
                                       const proto::HttpHead& head, std::string_view query,
                                       const PollHub* hub) {
  PollClassification classified =
      classify_poll_request(head, query, poll_body_limit(route.behavior.max_message_size));
  const auto refuse = [&](std::string_view reason) {
    classified.request.reset();
    classified.status = 503;
    classified.reason = reason;
    return classified;
  };
  if (!classified.request) return classified;
  if (hub == nullptr) return refuse("long polling is not available");
  if (classified.request->kind != PollKind::open && classified.request->body_size > 0) {
    const session::BudgetPolicy& budget = shared.memory.policy();
    const std::int64_t used = shared.memory.shared_balance();
    if (budget.limit > 0 && used > 0 &&
        budget.pressure(static_cast<std::size_t>(used)) == session::MemoryPressure::full) {
      return refuse("server memory budget exceeded");
    }
  }
  return classified;
}

PollOpenAnswer open_poll_session(ServerShared& shared, PollHub& hub, const Route& route,
                                 const proto::UpgradeRequest& request, UpgradeDecision decision,
                                 const io::SocketAddress& peer, std::string remote) {
  PollOpenAnswer answer;
  const auto refuse = [&](std::string_view reason) {
    answer.status = 503;
    answer.reason = reason;
    return std::move(answer);
  };
  const auto offered = [&](std::string_view name) {
    return std::find(request.subprotocols.begin(), request.subprotocols.end(), name) !=
           request.subprotocols.end();
  };
  if (!decision.subprotocol.empty()) {
    if (offered(decision.subprotocol)) answer.subprotocol = std::move(decision.subprotocol);
  } else {
    const auto it = std::find_if(route.behavior.subprotocols.begin(),
                                 route.behavior.subprotocols.end(), offered);
    if (it != route.behavior.subprotocols.end()) answer.subprotocol = *it;
  }
  // The session counts against its client's limit like a connection, for as long as it lives
  // (the connections that carry its requests count too, while they are open).
  std::optional<AddressSlot> slot = shared.address_limits.acquire(peer);
  if (!slot) return refuse("too many connections from this address");
  const LongPolling& settings = *route.behavior.long_polling;
  PollOpen open;
  open.channel.sid = make_poll_session_id(hub.index());
  open.channel.route = &route;
  if (request.origin) open.channel.binding.origin.emplace(*request.origin);
  if (route.behavior.csrf) {
    if (const std::optional<std::string_view> token = find_csrf_token(request)) {
      open.channel.binding.csrf.emplace(*token);
    }
  }
  open.channel.limits.poll = settings.poll;
  open.channel.limits.timeout = settings.timeout;
  open.channel.limits.stop_grace = settings.stop_grace;
  open.channel.remote_address = std::move(remote);
  open.params.role = proto::Role::server;
  open.params.subprotocol = answer.subprotocol;
  open.params.user_data = std::move(decision.user_data);
  open.slot = std::move(*slot);
  const std::string sid = open.channel.sid;
  bool opened = false;
  try {
    opened = hub.opener && hub.opener(open);
  } catch (...) {
    session::report_current_exception(&shared.options.error_hook, "open", route.pattern,
                                      open.channel.remote_address);
  }
  if (!opened) return refuse("long-polling session not available");
  answer.body = poll_open_json(sid, answer.subprotocol, settings.poll, settings.timeout);
  return answer;
}

}  // namespace wsx::server
