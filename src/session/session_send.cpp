// The application's sends (WebSocket::send and friends, publish's shared frames): admission
// against the backpressure limit, the SendStatus, and the send metrics.
#include <memory>

#include "session/connection_metrics.hpp"
#include "session/output_queue.hpp"
#include "session/session.hpp"
#include "session/topics.hpp"

namespace wsx::session {

// admit() and sent() run once per message: inline here (their only callers are in this file),
// with what they rarely do out of line.
inline SendStatus Session::admit(std::size_t size, bool data) {
  if (transport_closed_ || !protocol_open()) return SendStatus::closed;
  // The limit bounds what waits AHEAD of this message, not the message itself (as uWebSockets'
  // maxBackpressure does): a message of any size is taken while the queue is within the limit,
  // so the queue holds at most max_backpressure plus one message. Counting the message too would
  // refuse a large send merely because a few bytes had not left yet, which over TLS or HTTP/2
  // (nothing is written in place) or on a busy socket is most of the time.
  if (buffered_now() > config_->options.max_backpressure) [[unlikely]]
    return refuse_over_backpressure();
  // The server's memory budget: reading is not the only way to grow, a server that publishes to
  // peers that do not read fills their queues without reading a byte. Under pressure only what
  // keeps this connection light is queued (BudgetPolicy::may_queue). Control frames are not
  // asked: they are small, and how a connection ends.
  if (data && owner_.budget_ledger != nullptr && !owner_.budget_ledger->may_queue(*this, size))
      [[unlikely]] {
    if (ConnectionMetrics* metrics = owner_.metrics) metrics->dropped();
    return SendStatus::dropped;
  }
  return SendStatus::success;
}

SendStatus Session::refuse_over_backpressure() {
  saw_backpressure_ = true;
  if (config_->options.backpressure_policy == BackpressurePolicy::refuse) {
    if (ConnectionMetrics* metrics = owner_.metrics) metrics->dropped();
    return SendStatus::dropped;
  }
  start_close(1008, "send buffer limit exceeded: peer too slow");
  return SendStatus::closed;
}

inline SendStatus Session::sent(proto::SendResult result) {
  if (result != proto::SendResult::ok) [[unlikely]] {
    return result == proto::SendResult::closed ? SendStatus::closed : SendStatus::invalid;
  }
  // Inside this session's receive, the after_output() that ends it covers every send the
  // read's callbacks made (flush request, reading pause): once per read, not once per message.
  if (!receiving_now()) after_output();
  // Sends from outside this session's entry points (publish from another connection's callback)
  // are counted here; inside one, the entry's end counts them.
  if (depth_ == 0 && budget_ledger() != nullptr && !transport_closed_) {
    budget_ledger()->update(*this);
  }
  if (buffered_now() > config_->options.max_backpressure || carrier_write_blocked()) [[unlikely]] {
    saw_backpressure_ = true;
    if (ConnectionMetrics* metrics = owner_.metrics) metrics->backpressure();
    return SendStatus::backpressure;
  }
  return SendStatus::success;
}

void Session::count_sent(SendStatus status, MessageKind kind, std::size_t size, bool last,
                         const proto::DeflateTotals& before) noexcept {
  ConnectionMetrics* metrics = owner_.metrics;
  if (status != SendStatus::success && status != SendStatus::backpressure) return;
  metrics->piece_sent(kind, size, last);
  if (!compressed_) return;
  const proto::DeflateTotals after = connection_.deflate_totals();
  if (after.plain != before.plain) {
    metrics->deflate_sent(after.plain - before.plain, after.compressed - before.compressed);
  }
}

// Its only caller is send_message, which it is part of: one call (and one set of saved
// registers) less per message, ~20 instructions (callgrind, echo of 16-byte text).
[[gnu::always_inline]] inline SendStatus Session::send_uncounted(std::span<const std::uint8_t> data,
                                                                 MessageKind kind, bool compress) {
  if (sending_fragments_) return SendStatus::invalid;
  const SendStatus admitted = admit(data.size());
  if (admitted != SendStatus::success) return admitted;
  if (data.size() >= direct_send_threshold && carrier().writes_in_place()) {
    struct Direct final : proto::DirectOutput {
      explicit Direct(Session& owner) : session_(owner) {}
      std::size_t write_now(std::span<const std::uint8_t> header,
                            std::span<const std::uint8_t> payload) override {
        return session_.write_now(header, payload);
      }
      Session& session_;
    } direct(*this);
    borrow_next_ = borrowable(data);
    if (borrow_next_ || queued_bytes() == 0) {
      const proto::SendResult result =
          protocol().send_direct(kind, data, proto::SendFlags{compress}, direct);
      borrow_next_ = false;
      return sent(result);
    }
  }
  return sent(protocol().send(kind, data, proto::SendFlags{compress}));
}

SendStatus Session::send_message(std::span<const std::uint8_t> data, MessageKind kind,
                                 bool compress) {
  ConnectionMetrics* const metrics = owner_.metrics;
  const proto::DeflateTotals before = metrics != nullptr && compressed_ && connection_
                                          ? connection_.deflate_totals()
                                          : proto::DeflateTotals{};
  const SendStatus status = send_uncounted(data, kind, compress);
  if (metrics == nullptr) return status;
  if (compressed_) {
    count_sent(status, kind, data.size(), true, before);
  } else if (status == SendStatus::success || status == SendStatus::backpressure) {
    metrics->piece_sent(kind, data.size(), true);  // count_sent without compression, inline
  }
  return status;
}

SendStatus Session::send_piece(std::span<const std::uint8_t> data, MessageKind kind, bool fin,
                               bool compress) {
  const SendStatus admitted = admit(data.size());
  if (admitted != SendStatus::success) return admitted;
  const proto::DeflateTotals before = owner_.metrics != nullptr && compressed_
                                          ? connection_.deflate_totals()
                                          : proto::DeflateTotals{};
  const proto::SendResult result =
      protocol().send_fragment(kind, data, fin, proto::SendFlags{compress});
  if (result == proto::SendResult::ok) sending_fragments_ = !fin;
  const SendStatus status = sent(result);
  if (owner_.metrics != nullptr) count_sent(status, kind, data.size(), fin, before);
  return status;
}

SendStatus Session::send_control(bool ping, std::span<const std::uint8_t> payload) {
  const SendStatus admitted = admit(payload.size(), false);
  if (admitted != SendStatus::success) return admitted;
  proto::Connection& connection = protocol();
  return sent(ping ? connection.ping(payload) : connection.pong(payload));
}

SendStatus Session::send_shared(const std::shared_ptr<const SharedFrame>& frame) {
  if (sending_fragments_) return SendStatus::invalid;  // cannot interleave with our fragments
  const SendStatus admitted = admit(frame->bytes.size());
  if (admitted != SendStatus::success) return admitted;
  const std::span<const std::uint8_t> payload = frame->payload();
  if (!frame->compressed && compressed_ && payload.size() >= config_->deflate_tuning.threshold) {
    const proto::DeflateTotals before =
        owner_.metrics != nullptr ? connection_.deflate_totals() : proto::DeflateTotals{};
    const SendStatus status = sent(connection_.send(frame->kind, payload, proto::SendFlags{true}));
    if (owner_.metrics != nullptr) count_sent(status, frame->kind, payload.size(), true, before);
    return status;
  }
  if (!output_) output_ = std::make_unique<OutputQueue>();
  // Not protocol(): a broadcast to quiet connections must not create their Connections.
  output_->push_shared(frame, connection_ ? connection_.buffered_amount() : 0);
  if (config_->options.frame_observer != nullptr || config_->handlers.frame) {
    // Queued beside the Connection, which never sees it: reported here.
    proto::FrameHeader header;
    proto::decode_frame_header(frame->bytes.data(), frame->header_size, header);
    on_frame(true, header, frame->payload());
  }
  const SendStatus status = sent(proto::SendResult::ok);
  // A frame compressed once for many (topics.cpp) counts its compression there, once.
  if (owner_.metrics != nullptr) {
    owner_.metrics->message_sent(frame->kind, frame->message_size);
  }
  return status;
}

std::uint8_t Session::shared_compression_window(std::size_t size) const noexcept {
  return size >= config_->deflate_tuning.threshold ? stateless_compression_window_ : 0;
}

}  // namespace wsx::session
