#include "session/output_queue.hpp"

#include <algorithm>
#include <utility>

#include "session/topics.hpp"

namespace wsx::session {

std::size_t OutputQueue::QueuedFrame::size() const noexcept {
  return frame ? frame->bytes.size() : header_size + payload.size();
}

std::size_t OutputQueue::QueuedFrame::buffers(std::size_t offset, io::ConstBuffer* out,
                                              std::size_t room) const {
  if (room == 0) return 0;
  if (frame) {
    out[0] = std::span<const std::uint8_t>(frame->bytes).subspan(offset);
    return 1;
  }
  const std::span<const std::uint8_t> head(header.data(), header_size);
  std::size_t n = 0;
  if (offset < head.size()) {
    out[n++] = head.subspan(offset);
    offset = 0;
  } else {
    offset -= head.size();
  }
  if (n < room) out[n++] = payload.subspan(offset);
  return n;
}

void OutputQueue::push_shared(std::shared_ptr<const SharedFrame> frame,
                              std::size_t connection_buffered) {
  QueuedFrame queued;
  queued.after = consumed_ + connection_buffered;
  frame_bytes_ += frame->bytes.size();
  queued.frame = std::move(frame);
  frames_.push_back(std::move(queued));
}

void OutputQueue::push_borrowed(std::span<const std::uint8_t> header,
                                std::span<const std::uint8_t> payload,
                                std::size_t connection_buffered) {
  QueuedFrame queued;
  queued.after = consumed_ + connection_buffered;
  std::copy(header.begin(), header.end(), queued.header.begin());
  queued.header_size = static_cast<std::uint8_t>(header.size());
  queued.payload = payload;
  frames_.push_back(std::move(queued));
  frame_bytes_ += header.size() + payload.size();
}

void OutputQueue::push_owned(std::span<const std::uint8_t> header,
                             std::span<const std::uint8_t> payload, std::size_t written,
                             std::vector<std::uint8_t> storage, std::size_t connection_buffered) {
  const std::size_t header_sent = std::min(written, header.size());
  QueuedFrame queued;
  queued.after = consumed_ + connection_buffered;
  const std::span<const std::uint8_t> header_left = header.subspan(header_sent);
  std::copy(header_left.begin(), header_left.end(), queued.header.begin());
  queued.header_size = static_cast<std::uint8_t>(header_left.size());
  queued.payload = payload.subspan(std::min(written - header_sent, payload.size()));
  queued.owned = std::move(storage);  // the vector's bytes stay where `payload` points
  frame_bytes_ += queued.header_size + queued.payload.size();
  frames_.push_back(std::move(queued));
}

bool OutputQueue::has_borrowed() const noexcept {
  return std::any_of(frames_.begin() + static_cast<std::ptrdiff_t>(head_), frames_.end(),
                     [](const QueuedFrame& queued) { return queued.borrowed(); });
}

void OutputQueue::copy_borrowed() {
  for (std::size_t i = head_; i < frames_.size(); ++i) {
    QueuedFrame& queued = frames_[i];
    if (!queued.borrowed()) continue;
    io::ConstBuffer parts[2];
    const std::size_t count = queued.buffers(i == head_ ? offset_ : 0, parts, 2);
    auto copy = std::make_shared<SharedFrame>();
    for (std::size_t k = 0; k < count; ++k) {
      copy->bytes.insert(copy->bytes.end(), parts[k].begin(), parts[k].end());
    }
    queued.frame = std::move(copy);
    queued.payload = {};
    if (i == head_) offset_ = 0;
  }
}

std::size_t OutputQueue::gather(const proto::Connection* connection,
                                std::span<io::ConstBuffer> out) const {
  std::size_t n = 0;
  if (out.empty()) return 0;
  if (!raw_.empty()) {
    out[n++] = {reinterpret_cast<const std::uint8_t*>(raw_.data()), raw_.size()};
  }
  const std::span<const std::uint8_t> pending =
      connection != nullptr ? connection->pending_output() : std::span<const std::uint8_t>();
  std::uint64_t position = consumed_;
  for (std::size_t i = head_; i < frames_.size(); ++i) {
    if (n == out.size()) return n;
    const QueuedFrame& queued = frames_[i];
    if (queued.after > position) {
      out[n++] = pending.subspan(position - consumed_, queued.after - position);
      position = queued.after;
      if (n == out.size()) return n;
    }
    n += queued.buffers(i == head_ ? offset_ : 0, out.data() + n, out.size() - n);
  }
  const std::uint64_t end = consumed_ + pending.size();
  if (n < out.size() && position < end) out[n++] = pending.subspan(position - consumed_);
  return n;
}

void OutputQueue::consume(proto::Connection* connection, std::size_t n) {
  const std::size_t raw_taken = std::min(n, raw_.size());
  if (raw_taken == raw_.size()) {
    std::string().swap(raw_);  // handshake bytes: the buffer is not kept
  } else {
    raw_.erase(0, raw_taken);
  }
  n -= raw_taken;
  while (n > 0) {
    const bool frame_next = head_ < frames_.size();
    if (frame_next && frames_[head_].after == consumed_) {
      QueuedFrame& queued = frames_[head_];
      const std::size_t left = queued.size() - offset_;
      const std::size_t taken = std::min(n, left);
      offset_ += taken;
      frame_bytes_ -= taken;
      n -= taken;
      if (taken == left) {
        queued.frame.reset();
        if (!queued.owned.empty()) proto::recycle_buffer(queued.owned);
        offset_ = 0;
        if (++head_ == frames_.size()) {
          frames_.clear();
          head_ = 0;
        }
      }
      continue;
    }
    if (connection == nullptr) break;  // not created: it has no output
    const std::uint64_t limit =
        frame_next ? frames_[head_].after - consumed_ : connection->buffered_amount();
    const std::size_t taken = static_cast<std::size_t>(std::min<std::uint64_t>(n, limit));
    if (taken == 0) break;  // more consumed than gathered: cannot happen, never loop on it
    connection->consume_output(taken);
    consumed_ += taken;
    n -= taken;
  }
}

}  // namespace wsx::session
