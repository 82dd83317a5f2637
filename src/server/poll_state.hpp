// The byte streams of one long-polling session, without I/O (docs/long-polling-protocol.md):
// what the client has sent (an offset, and the bytes the session has not read yet), what the
// server has sent (kept until the client acknowledges it, so a lost response loses nothing),
// the one pending send and the one held recv, and the deadlines (times are passed in). The
// carrier above moves the WebSocket frame bytes between this and the session; the server
// plumbing turns PollAnswers into HTTP responses.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsx::server {

using PollClock = std::chrono::steady_clock;
using PollRequestId = std::uint64_t;  // chosen by the caller, never 0

struct PollLimits {
  std::size_t max_response = 1024 * 1024;  // body bytes per recv answer
  // Unacknowledged output taken from the session; beyond it output waits in the session's own
  // queue, where backpressure sees it, as it would behind a full socket.
  std::size_t output_window = 1024 * 1024;
  std::chrono::milliseconds poll{25000};      // the longest a recv is held
  std::chrono::milliseconds timeout{60000};   // no request for this long: abandoned
  std::chrono::milliseconds stop_grace{500};  // the timeout once the server stops
};

// An answer due to one request. `body` points into the state: valid until it next changes.
struct PollAnswer {
  PollRequestId request = 0;
  int status = 0;            // 200 (recv), 204 (send), 409, 410
  std::uint64_t offset = 0;  // Wsx-Offset: send, bytes received; recv, the body's first offset
  std::span<const std::uint8_t> body;
  std::string_view reason;  // for refusals
};

// What a request made due: its own answer (when not held), and the answer of the request it
// replaced (an older recv, or an older send whose bytes a retry carries).
struct PollStep {
  std::optional<PollAnswer> superseded;
  std::optional<PollAnswer> answer;
};

class PollState {
 public:
  PollState(const PollLimits& limits, PollClock::time_point now);

  // ---- client → server
  // A send of `body`, the client's bytes from stream offset `offset` on. Bytes the state has
  // already received are skipped (a retry is harmless); a gap is 409; new bytes while another
  // send still waits are 409; after finish(), 410. Fresh bytes wait in input() and the send's
  // 204 comes from consume_input() once the session has read them all.
  PollStep start_send(PollRequestId id, std::uint64_t offset, std::string body,
                      PollClock::time_point now);
  // Bytes received but not yet read by the session (writable: the session unmasks in place).
  std::span<std::uint8_t> input() noexcept;
  // The session read the first `n` bytes of input(): the pending send's 204 once all are read.
  std::optional<PollAnswer> consume_input(std::size_t n);
  std::uint64_t received() const noexcept { return received_; }

  // ---- server → client
  // How much more output to take from the session now (the window minus what is unacknowledged).
  std::size_t output_room() const noexcept;
  void append_output(std::span<const std::uint8_t> bytes);
  // The session is over: no more output. Once the client has acknowledged it all, recv is 410.
  void finish() noexcept { finished_ = true; }
  // A recv acknowledging `ack` bytes: answered at once with the bytes from `ack` on if there
  // are any (or 410, or 409 for an ack outside what was sent), else held; an older held recv
  // is answered empty.
  PollStep start_recv(PollRequestId id, std::uint64_t ack, PollClock::time_point now);
  // The held recv's answer when it became due (output appended, or finish()).
  std::optional<PollAnswer> ready_recv(PollClock::time_point now);

  // ---- time
  // The held recv's empty answer once it has been held for `poll`.
  std::optional<PollAnswer> expire_recv(PollClock::time_point now);
  // No request for `timeout` and none held: the client is gone.
  bool abandoned(PollClock::time_point now) const noexcept;
  // When expire_recv() or abandoned() next has something to say.
  PollClock::time_point next_deadline() const noexcept;
  // From `now` on, a gap of `timeout` between requests (none held) abandons the session, if
  // that is shorter than the limit's: the server stops, and a live client polls again at once.
  void shorten_timeout(std::chrono::milliseconds timeout, PollClock::time_point now) noexcept {
    limits_.timeout = std::min(limits_.timeout, timeout);
    last_activity_ = now;
  }

  // ---- state
  bool finished() const noexcept { return finished_; }
  bool over() const noexcept { return finished_ && acked_ == produced_; }
  bool recv_held() const noexcept { return held_recv_ != 0; }
  bool send_pending() const noexcept { return pending_send_ != 0; }
  std::uint64_t produced() const noexcept { return produced_; }
  std::uint64_t acknowledged() const noexcept { return acked_; }
  std::size_t unacknowledged() const noexcept { return out_.size() - out_head_; }
  // The memory of the pending send's body, until the session has read all of it.
  std::size_t held_input() const noexcept { return input_.size(); }
  // Bytes held for this session: input not yet read, output not yet acknowledged.
  std::size_t footprint() const noexcept;
  const PollLimits& limits() const noexcept { return limits_; }

 private:
  PollAnswer recv_answer(PollRequestId id);  // the bytes from acked_ on (or 410)
  void touch(PollClock::time_point now) noexcept { last_activity_ = now; }

  PollLimits limits_;
  // Input: the pending send's fresh bytes and how many the session has read.
  std::string input_;
  std::size_t input_taken_ = 0;
  std::uint64_t received_ = 0;
  PollRequestId pending_send_ = 0;
  // Output from acked_ on, starting at out_[out_head_] (compacted now and then).
  std::vector<std::uint8_t> out_;
  std::size_t out_head_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t produced_ = 0;
  PollRequestId held_recv_ = 0;
  PollClock::time_point held_since_{};
  PollClock::time_point last_activity_;
  bool finished_ = false;
};

}  // namespace wsx::server
