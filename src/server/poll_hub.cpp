#include "server/poll_hub.hpp"

#include "server/poll_channel.hpp"
#include "server/poll_response.hpp"
#include "server/poll_session_id.hpp"

namespace wsx::server {

PollOutcome poll_refusal(int status, std::string_view reason) {
  PollOutcome outcome;
  outcome.status = status;
  outcome.content_type = "application/json";
  outcome.body = poll_error_json(reason);
  outcome.reason = reason;
  return outcome;
}

void PollReply::deliver(const std::shared_ptr<PollReply>& reply, PollOutcome outcome) {
  if (!reply) return;
  reply->loop.post([reply, outcome = std::move(outcome)]() mutable {
    if (!reply->answer) return;  // the connection is gone or answered already
    const std::function<void(PollOutcome)> to_connection = std::move(reply->answer);
    reply->answer = nullptr;
    to_connection(std::move(outcome));
  });
}

void PollHub::add(PollChannel& channel) {
  channels_[channel.sid()] = &channel;
}

void PollHub::remove(PollChannel& channel) noexcept {
  const auto it = channels_.find(channel.sid());
  if (it != channels_.end() && it->second == &channel) channels_.erase(it);
}

PollChannel* PollHub::find(std::string_view sid) const noexcept {
  const auto it = channels_.find(sid);
  return it == channels_.end() ? nullptr : it->second;
}

void PollHub::handle(PollCall call) {
  PollChannel* channel = find(call.sid);
  // A session of another route is no session of this one: the same answer as an unknown sid,
  // so that a probe learns nothing.
  if (channel == nullptr || channel->route() != call.route) {
    PollReply::deliver(call.reply, poll_refusal(404, "unknown session"));
    return;
  }
  const BindingVerdict verdict = channel->binding().check(call.origin, call.csrf);
  if (verdict != BindingVerdict::valid) {
    PollReply::deliver(call.reply, poll_refusal(403, describe(verdict)));
    return;
  }
  if (call.kind == PollKind::send) {
    channel->send(call.position, std::move(call.body), std::move(call.reply));
  } else {
    channel->recv(call.position, std::move(call.reply));
  }
}

void dispatch_poll_call(std::span<PollHub* const> hubs, PollHub& here, PollCall call) {
  const std::optional<std::uint16_t> owner = poll_session_worker(call.sid);
  if (!owner || *owner >= hubs.size() || hubs[*owner] == nullptr) {
    PollReply::deliver(call.reply, poll_refusal(404, "unknown session"));
    return;
  }
  PollHub* hub = hubs[*owner];
  if (hub == &here) {
    hub->handle(std::move(call));
    return;
  }
  // Posting moves the body once more; a post to a loop that no longer runs (the server is
  // stopping) drops the call, and the connection is closed by its own shutdown.
  hub->loop().post([hub, call = std::move(call)]() mutable { hub->handle(std::move(call)); });
}

}  // namespace wsx::server
