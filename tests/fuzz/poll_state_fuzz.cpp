// Fuzzes the long-polling byte streams with a hostile client: sends at any offset, acks of any
// value, requests out of order, time jumping, a session reading in pieces and writing output.
// Invariants: the session reads the client's stream exactly once and in order; every recv
// answer's body is exactly the server's stream at its offset; nothing grows past its limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/poll_state.hpp"

using namespace wsx::server;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

// Byte i of a stream is a function of i: any misplaced, lost or repeated byte shows.
std::uint8_t stream_byte(std::uint64_t i) {
  return static_cast<std::uint8_t>(i * 131 + (i >> 8) * 7 + 3);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  PollLimits limits;
  limits.max_response = 64;
  limits.output_window = 256;
  limits.poll = std::chrono::milliseconds(100);
  limits.timeout = std::chrono::milliseconds(1000);
  PollClock::time_point now{};
  PollState state(limits, now);
  std::uint64_t session_read = 0;  // client bytes the session has read, in order
  std::uint64_t produced = 0;
  PollRequestId next_id = 1;
  std::size_t i = 0;
  const auto take = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  const auto check_answer = [&](const PollAnswer& answer) {
    check(answer.request != 0);
    if (answer.status == 200) {
      check(answer.offset == state.acknowledged());
      check(answer.body.size() <= limits.max_response);
      for (std::size_t k = 0; k < answer.body.size(); ++k) {
        check(answer.body[k] == stream_byte(answer.offset + k));
      }
    }
  };
  while (i < size) {
    const std::uint8_t op = take();
    switch (op % 7) {
      case 0: {  // a send at an offset near what was received
        const std::uint64_t back = take();
        const std::uint64_t offset =
            state.received() > back ? state.received() - back + take() % 4 : take();
        std::string body(take() % 80, '\0');
        for (std::size_t k = 0; k < body.size(); ++k) {
          body[k] = static_cast<char>(stream_byte(offset + k));
        }
        const PollStep step = state.start_send(next_id++, offset, std::move(body), now);
        if (step.answer) check_answer(*step.answer);
        break;
      }
      case 1: {  // the session reads some input
        const std::size_t n = take() % 100;
        const auto input = state.input();
        const std::size_t taken = std::min(n, input.size());
        for (std::size_t k = 0; k < taken; ++k) check(input[k] == stream_byte(session_read + k));
        session_read += taken;
        (void)state.consume_input(n);
        break;
      }
      case 2: {  // the session writes output within the window
        const std::size_t n = std::min<std::size_t>(take() % 100, state.output_room());
        std::string out(n, '\0');
        for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<char>(stream_byte(produced + k));
        if (!state.finished()) produced += n;
        state.append_output({reinterpret_cast<const std::uint8_t*>(out.data()), out.size()});
        if (auto ready = state.ready_recv(now)) check_answer(*ready);
        break;
      }
      case 3: {  // a recv with some ack
        const std::uint64_t ack = state.acknowledged() + take() % 90;
        const PollStep step = state.start_recv(next_id++, ack, now);
        if (step.answer) check_answer(*step.answer);
        break;
      }
      case 4:
        now += std::chrono::milliseconds(take() * 4);
        if (auto expired = state.expire_recv(now)) check_answer(*expired);
        (void)state.abandoned(now);
        break;
      case 5:
        state.finish();
        if (auto ready = state.ready_recv(now)) check_answer(*ready);
        break;
      default: {  // a wild ack
        std::uint64_t ack = 0;
        for (int k = 0; k < 8; ++k) ack = ack << 8 | take();
        const PollStep step = state.start_recv(next_id++, ack, now);
        if (step.answer) check_answer(*step.answer);
        break;
      }
    }
    check(state.produced() == produced);
    check(state.unacknowledged() <= limits.output_window);
    check(state.input().size() <= 80);
    check(session_read <= state.received());
  }
  return 0;
}
