#include "server/poll_channel.hpp"

#include <algorithm>
#include <utility>

#include "server/poll_hub.hpp"

namespace wsx::server {
namespace {

constexpr std::string_view gone_reason = "session is over";

}  // namespace

PollChannel::PollChannel(PollHub& hub, PollChannelParams params)
    : hub_(hub),
      params_(std::move(params)),
      state_(params_.limits, hub.loop().now()),
      timer_([this] { on_timer(); }),
      alive_(std::make_shared<bool>(true)) {
  hub_.add(*this);
  arm_timer();
}

PollChannel::~PollChannel() {
  close();
  if (destroyed_ != nullptr) *destroyed_ = true;
}

io::EventLoop& PollChannel::loop() noexcept {
  return hub_.loop();
}

// ------------------------------------------------------------------ requests

void PollChannel::keep(PollRequestId id, std::shared_ptr<PollReply> reply) {
  waiting_.emplace_back(id, std::move(reply));
}

void PollChannel::send(std::uint64_t offset, std::string body, std::shared_ptr<PollReply> reply) {
  if (closed_) {
    PollReply::deliver(reply, poll_refusal(410, gone_reason));
    return;
  }
  const PollRequestId id = next_id_++;
  keep(id, std::move(reply));
  const PollStep step = state_.start_send(id, offset, std::move(body), loop().now());
  if (step.superseded) deliver(*step.superseded);
  if (step.answer) deliver(*step.answer);
  pump();
}

void PollChannel::recv(std::uint64_t ack, std::shared_ptr<PollReply> reply) {
  if (closed_) {
    PollReply::deliver(reply, poll_refusal(410, gone_reason));
    return;
  }
  const PollRequestId id = next_id_++;
  keep(id, std::move(reply));
  const std::size_t unacknowledged = state_.unacknowledged();
  const PollStep step = state_.start_recv(id, ack, loop().now());
  if (state_.unacknowledged() < unacknowledged) acknowledged_ = true;
  if (step.superseded) deliver(*step.superseded);
  if (step.answer) deliver(*step.answer);
  pump();
}

void PollChannel::deliver(const PollAnswer& answer) {
  const auto it = std::find_if(waiting_.begin(), waiting_.end(),
                               [&](const auto& entry) { return entry.first == answer.request; });
  if (it == waiting_.end()) return;
  std::shared_ptr<PollReply> reply = std::move(it->second);
  waiting_.erase(it);
  PollOutcome outcome;
  if (answer.status == 200 || answer.status == 204) {
    outcome.status = answer.status;
    outcome.offset = answer.offset;
    if (answer.status == 200) {
      outcome.content_type = poll_content_type;
      outcome.body.assign(reinterpret_cast<const char*>(answer.body.data()), answer.body.size());
    }
  } else {
    outcome = poll_refusal(answer.status, answer.reason);
    outcome.offset = answer.offset;
    if (answer.status == 410) gone_told_ = true;
  }
  PollReply::deliver(reply, std::move(outcome));
}

void PollChannel::answer_waiting(int status, std::string_view reason) noexcept {
  try {
    for (auto& [id, reply] : waiting_) PollReply::deliver(reply, poll_refusal(status, reason));
  } catch (...) {
    // Out of memory while posting: those connections time out instead.
  }
  waiting_.clear();
}

// ------------------------------------------------------------------ the session's side

void PollChannel::request_flush() {
  schedule_pump();
}

void PollChannel::resume_reading() {
  reading_ = true;
  schedule_pump();
}

void PollChannel::close_gracefully() {
  graceful_ = true;
  schedule_pump();
}

void PollChannel::close() noexcept {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  hub_.remove(*this);
  answer_waiting(410, gone_reason);
}

void PollChannel::schedule_pump() {
  if (pump_posted_ || closed_) return;
  pump_posted_ = true;
  // At the end of what the session is doing now, as a socket's flush would be: the session
  // calls request_flush() from inside its own sends.
  loop().post([this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    pump_posted_ = false;
    pump();
  });
}

void PollChannel::pump() {
  if (closed_) return;
  bool destroyed = false;
  destroyed_ = &destroyed;
  const bool alive = feed() && pull();
  if (!alive) return;  // `this` is gone: touch nothing
  destroyed_ = nullptr;
  if (closed_) return;
  if (graceful_ && !state_.finished()) state_.finish();
  if (std::optional<PollAnswer> ready = state_.ready_recv(loop().now())) deliver(*ready);
  if (peer_ != nullptr && state_.held_input() != charged_input_) {
    // A body that waits while the session does not read holds memory as its output does.
    charged_input_ = state_.held_input();
    destroyed_ = &destroyed;
    peer_->peer_input_changed();
    if (destroyed) return;
    destroyed_ = nullptr;
    if (closed_) return;
  }
  // Drained: the window had filled, or the client acknowledged output (which the session counts
  // in its buffered amount: a session that paused its reading over max_backpressure resumes
  // only when that falls to half, and with a window larger than that the window never fills),
  // and now all the session had fits in the window.
  if ((blocked_ || acknowledged_) && !graceful_ && state_.output_room() > 0 && peer_ != nullptr) {
    blocked_ = false;
    acknowledged_ = false;
    destroyed_ = &destroyed;
    peer_->peer_drained();
    if (destroyed) return;
    destroyed_ = nullptr;
    if (closed_) return;
  }
  if (graceful_ && state_.over() && gone_told_ && !ended_) {
    // The client has every byte and knows the end: the carrier's part is done.
    ended_ = true;
    if (peer_ != nullptr) {
      peer_->peer_end();  // the session finishes: close(), then it may destroy us
      return;
    }
    close();
    return;
  }
  arm_timer();
}

bool PollChannel::feed() {
  while (reading_ && !closed_ && peer_ != nullptr && !state_.input().empty()) {
    const std::span<std::uint8_t> input = state_.input();
    if (graceful_) {  // the protocol is over: what the client still sends is dropped
      if (std::optional<PollAnswer> done = state_.consume_input(input.size())) deliver(*done);
      return true;
    }
    const std::size_t allowance = peer_->peer_read_allowance();
    if (allowance == 0) return true;  // the memory budget stopped the session: it resumes us
    const std::size_t n = std::min(allowance, input.size());
    peer_->peer_data(input.first(n));
    if (*destroyed_) return false;
    if (std::optional<PollAnswer> done = state_.consume_input(n)) deliver(*done);
  }
  return true;
}

bool PollChannel::pull() {
  io::ConstBuffer buffers[io::TcpSocket::max_write_buffers];
  while (!closed_ && peer_ != nullptr) {
    const std::size_t room = graceful_ ? SIZE_MAX : state_.output_room();
    if (room == 0) {
      blocked_ = true;  // the rest stays in the session's queue, where backpressure sees it
      return true;
    }
    const std::size_t count = peer_->peer_gather(buffers);
    std::size_t took = 0;
    for (std::size_t i = 0; i < count && took < room; ++i) {
      const std::span<const std::uint8_t> part =
          buffers[i].first(std::min(buffers[i].size(), room - took));
      state_.append_output(part);
      took += part.size();
    }
    if (took == 0) return true;
    peer_->peer_consume(took);
    if (*destroyed_) return false;
  }
  return true;
}

// ------------------------------------------------------------------ time

void PollChannel::arm_timer() {
  if (closed_) return;
  const io::Clock::time_point now = loop().now();
  const io::Clock::time_point deadline = state_.next_deadline();
  loop().arm(timer_, deadline > now ? deadline - now : io::Clock::duration::zero());
}

void PollChannel::server_stopping() {
  if (closed_ || reachable()) return;
  state_.shorten_timeout(state_.limits().stop_grace, loop().now());
  arm_timer();
}

void PollChannel::on_timer() {
  if (closed_) return;
  const io::Clock::time_point now = loop().now();
  if (std::optional<PollAnswer> expired = state_.expire_recv(now)) deliver(*expired);
  if (!state_.abandoned(now)) {
    arm_timer();
    return;
  }
  // No request for `timeout`: the client is gone (a closed tab, a lost network). The session
  // fails as a TCP connection reset would: 1006.
  if (peer_ == nullptr) {
    close();
    return;
  }
  peer_->peer_error("long-polling client gone: no request within the timeout");
}

}  // namespace wsx::server
