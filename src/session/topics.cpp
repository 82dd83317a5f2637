#include "session/topics.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "session/connection_metrics.hpp"
#include "session/position.hpp"
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

namespace {

std::shared_ptr<const SharedFrame> positioned_frame(const Publication& message) {
  const std::span<const std::uint8_t> payload = message.plain->payload();
  std::vector<std::uint8_t> bytes;
  bytes.reserve(message.position.size() + 1 + payload.size());
  bytes.insert(bytes.end(), message.position.begin(), message.position.end());
  bytes.push_back('\n');
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return make_shared_frame(message.plain->kind, bytes);
}

// Delivered after `last` (a recovering subscriber already has everything up to it)? A message
// without a position (a topic without history) always is.
bool after(const Publication& message, const std::optional<Position>& last) {
  if (!last) return true;
  const std::optional<Position> position = parse_position(message.position);
  return !position || *position > *last;
}

}  // namespace

TopicRegistry::~TopicRegistry() {
  subscriptions_.for_each_subscriber([](Session& session) { session.detach_topics(); });
  positioned_.for_each_subscriber([](Session& session) { session.detach_topics(); });
  for (Recovering& entry : recovering_) entry.session->detach_topics();
}

std::size_t TopicRegistry::local_count(std::string_view name) const {
  std::size_t count =
      subscriptions_.subscribers(name).size() + positioned_.subscribers(name).size();
  for (const Recovering& entry : recovering_) count += entry.topic == name ? 1 : 0;
  return count;
}

void TopicRegistry::gained(std::string_view name) {
  if (hub_ != nullptr && hub_->broker() != nullptr && local_count(name) == 1)
    hub_->loop_gained(name);
}

void TopicRegistry::lost(std::string_view name) {
  if (hub_ != nullptr && hub_->broker() != nullptr && local_count(name) == 0) hub_->loop_lost(name);
}

bool TopicRegistry::subscribe(Session& session, std::string_view name) {
  return subscribe(session, name, {});
}

bool TopicRegistry::subscribe(Session& session, std::string_view name, SubscribeOptions options) {
  if (subscribed(session, name)) return false;
  if (!options.since) {
    Subscriptions<Session>& set = options.positions ? positioned_ : subscriptions_;
    set.add(session, name);
    gained(name);
    return true;
  }
  const std::uint64_t id = next_recovery_++;
  recovering_.push_back({id, &session, std::string(name), std::move(options), {}});
  gained(name);
  const std::string since = *recovering_.back().options.since;
  if (hub_ != nullptr && loop_ != nullptr) {
    hub_->recover(name, since, *loop_, *this, id);
  } else {
    // A registry outside a server (tests): nothing to recover from, live messages only.
    Recovering entry = std::move(recovering_.back());
    recovering_.pop_back();
    (entry.options.positions ? positioned_ : subscriptions_).add(session, name);
  }
  return true;
}

void TopicRegistry::recovered(std::uint64_t id, RecoveryResult result) {
  const auto found = std::find_if(recovering_.begin(), recovering_.end(),
                                  [id](const Recovering& entry) { return entry.id == id; });
  if (found == recovering_.end()) return;  // the subscriber left meanwhile
  Recovering entry = std::move(*found);
  recovering_.erase(found);
  Session& session = *entry.session;
  const bool positions = entry.options.positions;
  // What the subscriber has from here on: the messages up to `since` (it said so), then each
  // recovered one. Live messages up to the last of those are duplicates.
  std::optional<Position> last = parse_position(*entry.options.since);
  for (const RecoveredMessage& missed : result.messages) {
    Publication message{make_shared_frame(missed.kind, missed.payload), missed.position};
    session.send_shared(positions ? positioned_frame(message) : message.plain);
    if (std::optional<Position> position = parse_position(missed.position)) last = position;
  }
  // Without a usable position nothing was recovered: every live message is new.
  if (result.status == RecoveryStatus::unavailable) last.reset();
  for (const auto& message : entry.live) {
    if (!after(*message, last)) continue;
    session.send_shared(positions ? positioned_frame(*message) : message->plain);
  }
  (positions ? positioned_ : subscriptions_).add(session, entry.topic);
  if (entry.options.recovered) {
    const auto callback = std::move(entry.options.recovered);
    const RecoveryStatus status = result.status;
    session.run_task([&callback, status](WebSocket& ws) { callback(ws, status); });
  }
}

bool TopicRegistry::unsubscribe(Session& session, std::string_view name) {
  bool removed = subscriptions_.remove(session, name) || positioned_.remove(session, name);
  if (!removed) {
    const auto found = std::find_if(recovering_.begin(), recovering_.end(), [&](const auto& e) {
      return e.session == &session && e.topic == name;
    });
    if (found == recovering_.end()) return false;
    recovering_.erase(found);
  }
  lost(name);
  return true;
}

void TopicRegistry::unsubscribe_all(Session& session) {
  const bool counting = hub_ != nullptr && hub_->broker() != nullptr;
  std::vector<std::string> names;
  if (counting) {
    auto collect = [&names](std::string_view name) { names.emplace_back(name); };
    subscriptions_.for_each_topic_of(session, collect);
    positioned_.for_each_topic_of(session, collect);
  }
  subscriptions_.remove_all(session);
  positioned_.remove_all(session);
  for (auto it = recovering_.begin(); it != recovering_.end();) {
    if (it->session == &session) {
      if (counting) names.push_back(it->topic);
      it = recovering_.erase(it);
    } else {
      ++it;
    }
  }
  for (const std::string& name : names) lost(name);
}

bool TopicRegistry::subscribed(const Session& session, std::string_view name) const {
  if (subscriptions_.contains(session, name) || positioned_.contains(session, name)) return true;
  return std::any_of(recovering_.begin(), recovering_.end(), [&](const Recovering& entry) {
    return entry.session == &session && entry.topic == name;
  });
}

std::size_t TopicRegistry::subscribers(std::string_view name) const {
  return local_count(name);
}

std::size_t TopicRegistry::deliver_to(const Subscriptions<Session>& set, std::string_view name,
                                      const std::shared_ptr<const SharedFrame>& frame,
                                      const Session* exclude,
                                      std::chrono::steady_clock::time_point published) {
  const std::span<Session* const> subscribers = set.subscribers(name);
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

std::size_t TopicRegistry::deliver(std::string_view name,
                                   const std::shared_ptr<const Publication>& message,
                                   const Session* exclude,
                                   std::chrono::steady_clock::time_point published) {
  std::size_t delivered = deliver_to(subscriptions_, name, message->plain, exclude, published);
  if (!positioned_.subscribers(name).empty()) {
    delivered += deliver_to(positioned_, name, positioned_frame(*message), exclude, published);
  }
  for (Recovering& entry : recovering_) {
    if (entry.topic == name && entry.session != exclude) entry.live.push_back(message);
  }
  return delivered;
}

std::size_t TopicRegistry::deliver(std::string_view name,
                                   const std::shared_ptr<const SharedFrame>& frame,
                                   const Session* exclude,
                                   std::chrono::steady_clock::time_point published) {
  return deliver(name, std::make_shared<const Publication>(Publication{frame, {}}), exclude,
                 published);
}

void TopicHub::attach(io::EventLoop& loop, TopicRegistry& registry) {
  members_.push_back({&loop, loop.handle(), &registry});
}

bool TopicHub::publish(std::string_view topic, MessageKind kind,
                       std::span<const std::uint8_t> payload, const Session* exclude) {
  publishes_.add();
  if (broker_ != nullptr) {
    return broker_->publish(topic, kind, payload, reinterpret_cast<std::uintptr_t>(exclude));
  }
  const auto published = std::chrono::steady_clock::now();
  auto message =
      std::make_shared<const Publication>(Publication{make_shared_frame(kind, payload), {}});
  bool all = true;
  std::shared_ptr<const std::string> name;
  for (const Member& member : members_) {
    if (member.loop->in_loop_thread()) {
      member.registry->deliver(topic, message, exclude, published);
      continue;
    }
    if (!name) name = std::make_shared<const std::string>(topic);
    TopicRegistry* registry = member.registry;
    all &= member.handle.post([registry, name, message, published] {
      registry->deliver(*name, message, nullptr, published);
    });
  }
  return all;
}

void TopicHub::deliver(const BrokerMessage& message) {
  auto publication = std::make_shared<const Publication>(
      Publication{make_shared_frame(message.kind, message.payload), std::string(message.position)});
  // A WebSocket::publish skips its own connection; only this node can have it.
  const Session* exclude =
      message.local ? reinterpret_cast<const Session*>(message.origin) : nullptr;
  std::shared_ptr<const std::string> name;
  for (const Member& member : members_) {
    if (member.loop->in_loop_thread()) {
      member.registry->deliver(message.topic, publication, exclude);
      continue;
    }
    if (!name) name = std::make_shared<const std::string>(message.topic);
    TopicRegistry* registry = member.registry;
    member.handle.post(
        [registry, name, publication, exclude] { registry->deliver(*name, publication, exclude); });
  }
}

void TopicHub::loop_gained(std::string_view topic) {
  std::lock_guard lock(loops_mutex_);
  // Told to the broker under the lock, so that its subscribe/unsubscribe calls for one topic
  // alternate in the order the counts changed.
  if (++loops_per_topic_[std::string(topic)] == 1) broker_->subscribe(topic);
}

void TopicHub::loop_lost(std::string_view topic) {
  std::lock_guard lock(loops_mutex_);
  const auto found = loops_per_topic_.find(std::string(topic));
  if (found == loops_per_topic_.end()) return;
  if (--found->second == 0) {
    loops_per_topic_.erase(found);
    broker_->unsubscribe(topic);
  }
}

void TopicHub::recover(std::string_view topic, std::string_view since, io::EventLoop& loop,
                       TopicRegistry& registry, std::uint64_t id) {
  io::LoopHandle handle = loop.handle();
  if (broker_ == nullptr) {
    handle.post([&registry, id] { registry.recovered(id, {}); });
    return;
  }
  broker_->recover(topic, since, [handle, &registry, id](RecoveryResult result) {
    // Posted even to the broker's own loop: live messages delivered before this task ran are
    // in the recovering entry and are filtered there.
    auto shared = std::make_shared<RecoveryResult>(std::move(result));
    handle.post([&registry, id, shared] { registry.recovered(id, std::move(*shared)); });
  });
}

}  // namespace wsx::session
