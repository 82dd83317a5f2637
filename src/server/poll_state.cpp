#include "server/poll_state.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace wsx::server {
namespace {

PollAnswer refusal(PollRequestId id, int status, std::uint64_t offset, std::string_view reason) {
  PollAnswer answer;
  answer.request = id;
  answer.status = status;
  answer.offset = offset;
  answer.reason = reason;
  return answer;
}

}  // namespace

PollState::PollState(const PollLimits& limits, PollClock::time_point now)
    : limits_(limits), last_activity_(now) {}

// ------------------------------------------------------------------ client → server

PollStep PollState::start_send(PollRequestId id, std::uint64_t offset, std::string body,
                               PollClock::time_point now) {
  touch(now);
  PollStep step;
  if (finished_) {
    step.answer = refusal(id, 410, received_, "session is over");
    return step;
  }
  if (offset > received_ || body.size() > std::numeric_limits<std::uint64_t>::max() - offset) {
    step.answer = refusal(id, 409, received_, "bytes before offset are missing");
    return step;
  }
  const std::uint64_t end = offset + body.size();
  const std::uint64_t read = received_ - (input_.size() - input_taken_);
  if (end <= read) {  // all of it reached the session already: a retry of an answered send
    step.answer = refusal(id, 204, received_, {});
    return step;
  }
  if (end <= received_) {
    // A retry of the send still waiting (its answer was lost, or it timed out at the client):
    // the retry is answered when the bytes are read, the older request no longer is.
    if (pending_send_ != 0) {
      step.superseded = refusal(pending_send_, 409, received_, "superseded by a retry");
    }
    pending_send_ = id;
    return step;
  }
  if (pending_send_ != 0) {
    step.answer = refusal(id, 409, received_, "another send is pending");
    return step;
  }
  const std::size_t known = static_cast<std::size_t>(received_ - offset);
  if (known == 0) {
    input_ = std::move(body);
  } else {
    input_.assign(body, known);
  }
  input_taken_ = 0;
  received_ = end;
  pending_send_ = id;
  return step;
}

std::span<std::uint8_t> PollState::input() noexcept {
  return {reinterpret_cast<std::uint8_t*>(input_.data()) + input_taken_,
          input_.size() - input_taken_};
}

std::optional<PollAnswer> PollState::consume_input(std::size_t n) {
  input_taken_ += std::min(n, input_.size() - input_taken_);
  if (input_taken_ < input_.size() || pending_send_ == 0) return std::nullopt;
  std::string().swap(input_);  // up to a whole body: give the memory back
  input_taken_ = 0;
  const PollRequestId id = std::exchange(pending_send_, 0);
  return refusal(id, 204, received_, {});
}

// ------------------------------------------------------------------ server → client

std::size_t PollState::output_room() const noexcept {
  const std::size_t held = unacknowledged();
  return held >= limits_.output_window ? 0 : limits_.output_window - held;
}

void PollState::append_output(std::span<const std::uint8_t> bytes) {
  if (finished_ || bytes.empty()) return;
  out_.insert(out_.end(), bytes.begin(), bytes.end());
  produced_ += bytes.size();
}

PollStep PollState::start_recv(PollRequestId id, std::uint64_t ack, PollClock::time_point now) {
  touch(now);
  PollStep step;
  if (held_recv_ != 0) {
    step.superseded = refusal(std::exchange(held_recv_, 0), 200, acked_, {});
  }
  if (ack < acked_ || ack > produced_) {
    step.answer = refusal(id, 409, acked_, "ack outside the bytes sent");
    return step;
  }
  // The client has these: drop them. Compact once the dead front is large and most of the
  // buffer, so that a steady stream costs amortised O(1) per byte.
  out_head_ += static_cast<std::size_t>(ack - acked_);
  acked_ = ack;
  if (out_head_ == out_.size()) {
    out_.clear();
    out_head_ = 0;
    if (out_.capacity() > limits_.output_window) out_.shrink_to_fit();
  } else if (out_head_ >= 64 * 1024 && out_head_ * 2 >= out_.size()) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_head_));
    out_head_ = 0;
  }
  if (produced_ > acked_ || finished_) {
    step.answer = recv_answer(id);
    return step;
  }
  held_recv_ = id;
  held_since_ = now;
  return step;
}

std::optional<PollAnswer> PollState::ready_recv(PollClock::time_point now) {
  if (held_recv_ == 0 || (produced_ == acked_ && !finished_)) return std::nullopt;
  touch(now);
  return recv_answer(std::exchange(held_recv_, 0));
}

PollAnswer PollState::recv_answer(PollRequestId id) {
  if (produced_ == acked_ && finished_) return refusal(id, 410, acked_, "session is over");
  PollAnswer answer;
  answer.request = id;
  answer.status = 200;
  answer.offset = acked_;
  const std::size_t size = std::min(unacknowledged(), limits_.max_response);
  answer.body = std::span<const std::uint8_t>(out_).subspan(out_head_, size);
  return answer;
}

// ------------------------------------------------------------------ time

std::optional<PollAnswer> PollState::expire_recv(PollClock::time_point now) {
  if (held_recv_ == 0 || now < held_since_ + limits_.poll) return std::nullopt;
  touch(now);
  return refusal(std::exchange(held_recv_, 0), 200, acked_, {});
}

bool PollState::abandoned(PollClock::time_point now) const noexcept {
  return held_recv_ == 0 && now >= last_activity_ + limits_.timeout;
}

PollClock::time_point PollState::next_deadline() const noexcept {
  return held_recv_ != 0 ? held_since_ + limits_.poll : last_activity_ + limits_.timeout;
}

std::size_t PollState::footprint() const noexcept {
  return input_.size() + out_.size();
}

}  // namespace wsx::server
