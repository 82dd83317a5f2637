#include "session/topics.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "session/connection_metrics.hpp"
#include "session/session.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::session {

namespace {

std::shared_ptr<SharedFrame> frame_of(MessageKind kind, std::span<const std::uint8_t> payload,
                                      bool compressed) {
  auto frame = std::make_shared<SharedFrame>();
  proto::FrameHeader header;
  header.opcode = kind == MessageKind::text ? proto::Opcode::text : proto::Opcode::binary;
  header.rsv1 = compressed;
  header.payload_length = payload.size();
  frame->bytes.resize(proto::frame_header_size(payload.size(), false) + payload.size());
  frame->header_size = proto::encode_frame_header(header, frame->bytes.data());
  std::copy(payload.begin(), payload.end(), frame->bytes.begin() + frame->header_size);
  frame->kind = kind;
  frame->compressed = compressed;
  frame->message_size = payload.size();
  return frame;
}

// Compressed frames made during one deliver(), one per route and window. Few distinct keys
// exist (routes × negotiated windows), so a linear search is enough.
class CompressedFrames {
 public:
  CompressedFrames(const SharedFrame& plain, ConnectionMetrics* metrics)
      : plain_(plain), metrics_(metrics) {}

  const std::shared_ptr<const SharedFrame>& get(const SessionConfig& config,
                                                std::uint8_t window_bits) {
    for (const Entry& entry : entries_) {
      if (entry.config == &config && entry.window_bits == window_bits) return entry.frame;
    }
    entries_.push_back({&config, window_bits,
                        make_compressed_shared_frame(plain_.kind, plain_.payload(), window_bits,
                                                     config.deflate_tuning)});
    // Compressed once here for every subscriber that shares it: counted once.
    if (metrics_ != nullptr) {
      metrics_->deflate_sent(plain_.payload().size(), entries_.back().frame->payload().size());
    }
    return entries_.back().frame;
  }

 private:
  struct Entry {
    const SessionConfig* config;
    std::uint8_t window_bits;
    std::shared_ptr<const SharedFrame> frame;
  };
  const SharedFrame& plain_;
  ConnectionMetrics* metrics_;
  std::vector<Entry> entries_;
};

}  // namespace

std::shared_ptr<const SharedFrame> make_shared_frame(MessageKind kind,
                                                     std::span<const std::uint8_t> payload) {
  return frame_of(kind, payload, false);
}

std::shared_ptr<const SharedFrame> make_compressed_shared_frame(
    MessageKind kind, std::span<const std::uint8_t> payload, std::uint8_t window_bits,
    const proto::DeflateTuning& tuning) {
  proto::MessageDeflater deflater(window_bits, true, tuning);
  std::vector<std::uint8_t> deflated;
  deflater.compress(payload.data(), payload.size(), true, deflated);
  std::shared_ptr<SharedFrame> frame = frame_of(kind, deflated, true);
  frame->message_size = payload.size();
  return frame;
}

TopicRegistry::~TopicRegistry() {
  subscriptions_.for_each_subscriber([](Session& session) { session.set_topics(nullptr); });
}

bool TopicRegistry::subscribe(Session& session, std::string_view name) {
  return subscriptions_.add(session, name);
}

bool TopicRegistry::unsubscribe(Session& session, std::string_view name) {
  return subscriptions_.remove(session, name);
}

void TopicRegistry::unsubscribe_all(Session& session) {
  subscriptions_.remove_all(session);
}

bool TopicRegistry::subscribed(const Session& session, std::string_view name) const {
  return subscriptions_.contains(session, name);
}

std::size_t TopicRegistry::subscribers(std::string_view name) const {
  return subscriptions_.subscribers(name).size();
}

std::size_t TopicRegistry::deliver(std::string_view name,
                                   const std::shared_ptr<const SharedFrame>& frame,
                                   const Session* exclude,
                                   std::chrono::steady_clock::time_point published) {
  const std::span<Session* const> subscribers = subscriptions_.subscribers(name);
  if (subscribers.empty()) return 0;
  std::size_t delivered = 0;
  CompressedFrames compressed(*frame, metrics_);
  // Sending never destroys a session or changes subscriptions (no callback runs), so the list
  // is stable while we walk it.
  for (Session* session : subscribers) {
    if (session == exclude) continue;
    const std::uint8_t window = session->shared_compression_window(frame->payload().size());
    const SendStatus status =
        session->send_shared(window != 0 ? compressed.get(session->config(), window) : frame);
    if (status == SendStatus::success || status == SendStatus::backpressure) ++delivered;
  }
  if (metrics_ != nullptr) {
    metrics_->deliveries(delivered);
    if (published != std::chrono::steady_clock::time_point{}) {
      metrics_->fanout_seconds(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - published).count());
    }
  }
  return delivered;
}

void TopicHub::attach(io::EventLoop& loop, TopicRegistry& registry) {
  members_.push_back({&loop, loop.handle(), &registry});
}

bool TopicHub::publish(std::string_view topic, MessageKind kind,
                       std::span<const std::uint8_t> payload, const Session* exclude) {
  publishes_.add();
  const auto published = std::chrono::steady_clock::now();
  const std::shared_ptr<const SharedFrame> frame = make_shared_frame(kind, payload);
  bool all = true;
  std::shared_ptr<const std::string> name;
  for (const Member& member : members_) {
    if (member.loop->in_loop_thread()) {
      member.registry->deliver(topic, frame, exclude, published);
      continue;
    }
    if (!name) name = std::make_shared<const std::string>(topic);
    TopicRegistry* registry = member.registry;
    all &= member.handle.post([registry, name, frame, published] {
      registry->deliver(*name, frame, nullptr, published);
    });
  }
  return all;
}

}  // namespace wsx::session
