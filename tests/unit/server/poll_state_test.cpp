// The long-polling byte streams: ordering, acknowledgement, loss of a response, the one pending
// send and held recv, the output window, the end, and the deadlines (times passed in).
#include "server/poll_state.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wsx::server {
namespace {

using namespace std::chrono_literals;

const PollClock::time_point t0 = PollClock::time_point{} + 1000s;

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
std::string text(std::span<const std::uint8_t> body) {
  return {reinterpret_cast<const char*>(body.data()), body.size()};
}
std::string text(std::span<std::uint8_t> body) {
  return {reinterpret_cast<const char*>(body.data()), body.size()};
}

PollLimits small_limits() {
  PollLimits limits;
  limits.max_response = 4;
  limits.output_window = 8;
  limits.poll = 100ms;
  limits.timeout = 1000ms;
  return limits;
}

TEST(PollState, SendBytesWaitForTheSessionThen204WithTheOffset) {
  PollState state(small_limits(), t0);
  PollStep step = state.start_send(1, 0, "hello", t0);
  EXPECT_FALSE(step.answer);
  EXPECT_TRUE(state.send_pending());
  EXPECT_EQ(text(state.input()), "hello");
  EXPECT_EQ(state.received(), 5u);
  EXPECT_FALSE(state.consume_input(2));
  EXPECT_EQ(text(state.input()), "llo");
  const std::optional<PollAnswer> done = state.consume_input(3);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->request, 1u);
  EXPECT_EQ(done->status, 204);
  EXPECT_EQ(done->offset, 5u);
  EXPECT_TRUE(state.input().empty());
  EXPECT_FALSE(state.send_pending());
}

TEST(PollState, RetriedSendSkipsWhatArrivedAndAGapIs409) {
  PollState state(small_limits(), t0);
  state.start_send(1, 0, "abc", t0);
  ASSERT_TRUE(state.consume_input(3));
  // The same POST again (its answer was lost): nothing new, answered at once.
  PollStep again = state.start_send(2, 0, "abc", t0);
  ASSERT_TRUE(again.answer);
  EXPECT_EQ(again.answer->status, 204);
  EXPECT_EQ(again.answer->offset, 3u);
  // Overlapping: only "de" is new.
  EXPECT_FALSE(state.start_send(3, 1, "bcde", t0).answer);
  EXPECT_EQ(text(state.input()), "de");
  ASSERT_TRUE(state.consume_input(2));
  // Beyond what arrived: a gap.
  PollStep gap = state.start_send(4, 9, "x", t0);
  ASSERT_TRUE(gap.answer);
  EXPECT_EQ(gap.answer->status, 409);
  EXPECT_EQ(gap.answer->offset, 5u);
  PollStep overflow = state.start_send(5, UINT64_MAX, "xy", t0);
  ASSERT_TRUE(overflow.answer);
  EXPECT_EQ(overflow.answer->status, 409);
}

TEST(PollState, OneSendAtATimeButARetryOfThePendingOneTakesOver) {
  PollState state(small_limits(), t0);
  EXPECT_FALSE(state.start_send(1, 0, "abcd", t0).answer);
  PollStep busy = state.start_send(2, 4, "ef", t0);
  ASSERT_TRUE(busy.answer);
  EXPECT_EQ(busy.answer->status, 409);
  PollStep retry = state.start_send(3, 0, "abcd", t0);
  EXPECT_FALSE(retry.answer);
  ASSERT_TRUE(retry.superseded);
  EXPECT_EQ(retry.superseded->request, 1u);
  EXPECT_EQ(retry.superseded->status, 409);
  const std::optional<PollAnswer> done = state.consume_input(4);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->request, 3u);
  EXPECT_EQ(done->status, 204);
}

TEST(PollState, RecvAnswersAtOnceWhenThereIsOutputAndKeepsItUntilAcknowledged) {
  PollState state(small_limits(), t0);
  state.append_output(bytes("abcdef"));
  PollStep first = state.start_recv(1, 0, t0);
  ASSERT_TRUE(first.answer);
  EXPECT_EQ(first.answer->status, 200);
  EXPECT_EQ(first.answer->offset, 0u);
  EXPECT_EQ(text(first.answer->body), "abcd");  // max_response
  // The answer was lost: the same ack gets the same bytes, no gap, no duplicate.
  PollStep lost = state.start_recv(2, 0, t0);
  ASSERT_TRUE(lost.answer);
  EXPECT_EQ(text(lost.answer->body), "abcd");
  PollStep next = state.start_recv(3, 4, t0);
  ASSERT_TRUE(next.answer);
  EXPECT_EQ(next.answer->offset, 4u);
  EXPECT_EQ(text(next.answer->body), "ef");
  EXPECT_EQ(state.acknowledged(), 4u);
  EXPECT_EQ(state.unacknowledged(), 2u);
  // An ack behind what was acknowledged, or beyond what was sent: 409.
  PollStep behind = state.start_recv(4, 3, t0);
  ASSERT_TRUE(behind.answer);
  EXPECT_EQ(behind.answer->status, 409);
  PollStep beyond = state.start_recv(5, 7, t0);
  ASSERT_TRUE(beyond.answer);
  EXPECT_EQ(beyond.answer->status, 409);
}

TEST(PollState, HeldRecvIsAnsweredByOutputANewerRecvOrThePollInterval) {
  PollState state(small_limits(), t0);
  EXPECT_FALSE(state.start_recv(1, 0, t0).answer);
  EXPECT_TRUE(state.recv_held());
  EXPECT_FALSE(state.ready_recv(t0));
  state.append_output(bytes("xy"));
  std::optional<PollAnswer> ready = state.ready_recv(t0 + 1ms);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->request, 1u);
  EXPECT_EQ(text(ready->body), "xy");

  EXPECT_FALSE(state.start_recv(2, 2, t0).answer);
  PollStep newer = state.start_recv(3, 2, t0 + 10ms);
  ASSERT_TRUE(newer.superseded);
  EXPECT_EQ(newer.superseded->request, 2u);
  EXPECT_EQ(newer.superseded->status, 200);
  EXPECT_TRUE(newer.superseded->body.empty());
  EXPECT_FALSE(newer.answer);
  EXPECT_EQ(state.next_deadline(), t0 + 110ms);
  EXPECT_FALSE(state.expire_recv(t0 + 109ms));
  std::optional<PollAnswer> expired = state.expire_recv(t0 + 110ms);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->request, 3u);
  EXPECT_EQ(expired->status, 200);
  EXPECT_EQ(expired->offset, 2u);
  EXPECT_TRUE(expired->body.empty());
  EXPECT_FALSE(state.recv_held());
}

TEST(PollState, OutputWindowBoundsWhatIsTakenFromTheSession) {
  PollState state(small_limits(), t0);
  EXPECT_EQ(state.output_room(), 8u);
  state.append_output(bytes("12345678"));
  EXPECT_EQ(state.output_room(), 0u);
  state.start_recv(1, 0, t0);
  EXPECT_EQ(state.output_room(), 0u);  // sent, not yet acknowledged
  state.start_recv(2, 4, t0);
  EXPECT_EQ(state.output_room(), 4u);
  EXPECT_EQ(state.footprint(), 8u);  // the acknowledged front is reused, not yet returned
  state.start_recv(3, 8, t0);
  EXPECT_EQ(state.footprint(), 0u);
  EXPECT_EQ(state.output_room(), 8u);
}

TEST(PollState, LargeStreamsStayInOrderAcrossCompaction) {
  PollLimits limits;
  limits.max_response = 1000;
  limits.output_window = 300 * 1024;
  PollState state(limits, t0);
  std::string sent;
  std::string got;
  std::uint64_t ack = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string piece(100 + round % 300, static_cast<char>('a' + round % 26));
    if (state.output_room() >= piece.size()) {
      state.append_output(bytes(piece));
      sent += piece;
    }
    PollStep step = state.start_recv(round + 1, ack, t0);
    if (!step.answer) continue;
    ASSERT_EQ(step.answer->offset, ack);
    got += text(step.answer->body);
    ack += step.answer->body.size();
  }
  ASSERT_LE(got.size(), sent.size());
  EXPECT_EQ(got, sent.substr(0, got.size()));
  EXPECT_GT(got.size(), 100000u);
}

TEST(PollState, FinishedSessionIs410OnceEverythingIsAcknowledged) {
  PollState state(small_limits(), t0);
  state.append_output(bytes("cl"));
  PollStep beyond = state.start_recv(1, 3, t0);
  ASSERT_TRUE(beyond.answer);
  EXPECT_EQ(beyond.answer->status, 409);
  state.finish();
  EXPECT_FALSE(state.over());
  state.append_output(bytes("zz"));  // nothing after the end
  PollStep last = state.start_recv(2, 0, t0);
  ASSERT_TRUE(last.answer);
  EXPECT_EQ(text(last.answer->body), "cl");
  PollStep gone = state.start_recv(3, 2, t0);
  ASSERT_TRUE(gone.answer);
  EXPECT_EQ(gone.answer->status, 410);
  EXPECT_TRUE(state.over());
  PollStep send = state.start_send(4, 0, "x", t0);
  ASSERT_TRUE(send.answer);
  EXPECT_EQ(send.answer->status, 410);
}

TEST(PollState, HeldRecvLearnsOfTheEnd) {
  PollState state(small_limits(), t0);
  EXPECT_FALSE(state.start_recv(1, 0, t0).answer);
  state.finish();
  const std::optional<PollAnswer> gone = state.ready_recv(t0);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 410);
}

TEST(PollState, AbandonedAfterTheTimeoutWithoutRequestsButNotWhileARecvIsHeld) {
  PollState state(small_limits(), t0);
  EXPECT_EQ(state.next_deadline(), t0 + 1000ms);
  EXPECT_FALSE(state.abandoned(t0 + 999ms));
  EXPECT_TRUE(state.abandoned(t0 + 1000ms));
  state.start_send(1, 0, "", t0 + 500ms);  // any request counts
  EXPECT_FALSE(state.abandoned(t0 + 1400ms));
  EXPECT_TRUE(state.abandoned(t0 + 1500ms));
  state.start_recv(2, 0, t0 + 1400ms);
  EXPECT_FALSE(state.abandoned(t0 + 5000ms));  // held: the client is there
  ASSERT_TRUE(state.expire_recv(t0 + 5000ms));
  EXPECT_FALSE(state.abandoned(t0 + 5999ms));
  EXPECT_TRUE(state.abandoned(t0 + 6000ms));
}

}  // namespace
}  // namespace wsx::server
