// Pub/sub for server connections. A published message is framed ONCE (server frames are not
// masked) into a SharedFrame, and the same bytes are queued on every subscriber of every loop:
// nothing is re-framed per subscriber. With permessage-deflate, a subscriber whose compressor
// resets after every message (server_no_context_takeover) gets a compressed frame shared by
// every such subscriber of the loop with the same route and window; any other subscriber whose
// route would compress the message compresses it itself (context takeover makes its compressed
// bytes depend on its own history).
//
// Each loop has a TopicRegistry (its subscribers, touched only on that loop's thread); the
// server's TopicHub fans a publish out to every registry: directly for the caller's own loop,
// through one posted task per other loop.
//
// With a broker (ServerOptions::broker) a publish goes to the broker instead, and the hub is the
// broker's sink: what the broker brings back (from this node or another) is framed once and
// delivered on every loop as above. The registries tell the hub when a topic gains its first
// subscriber on their loop or loses its last one; the hub counts loops per topic and tells the
// broker when the node as a whole gains or loses a topic.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "session/layer_export.hpp"
#include "session/subscriptions.hpp"
#include "wsx/broker.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/metrics.hpp"
#include "wsx/proto/deflate.hpp"
#include "wsx/websocket.hpp"

namespace wsx::session {

class Session;

struct WSX_LAYER_API SharedFrame {
  std::vector<std::uint8_t> bytes;  // header + payload
  std::size_t header_size = 0;
  MessageKind kind = MessageKind::binary;
  bool compressed = false;       // RSV1 set, the payload deflated (RFC 7692)
  std::size_t message_size = 0;  // the message's own size (before compression)

  std::span<const std::uint8_t> payload() const noexcept {
    return std::span<const std::uint8_t>(bytes).subspan(header_size);
  }
};

// One unmasked, uncompressed, unfragmented data frame (server role).
WSX_LAYER_API std::shared_ptr<const SharedFrame> make_shared_frame(
    MessageKind kind, std::span<const std::uint8_t> payload);
// The same message compressed as a server compressor without context takeover, using a window
// of `window_bits` (as negotiated) and `tuning`, would send it: the frame any such connection
// would produce.
WSX_LAYER_API std::shared_ptr<const SharedFrame> make_compressed_shared_frame(
    MessageKind kind, std::span<const std::uint8_t> payload, std::uint8_t window_bits,
    const proto::DeflateTuning& tuning);

class ConnectionMetrics;
class TopicHub;

// One published message as every loop of the node receives it: framed once, plus its
// position when the broker gave one. The "<position>\n<payload>" form for subscribers that
// asked for positions is made by each loop the first time one of its subscribers needs it.
struct Publication {
  std::shared_ptr<const SharedFrame> plain;
  std::string position;
};

// Loop thread only. Every operation but deliver() is O(1) per subscription (see
// subscriptions.hpp); deliver() walks the topic's subscribers once.
class WSX_LAYER_API TopicRegistry {
 public:
  explicit TopicRegistry(TopicHub* hub = nullptr, io::EventLoop* loop = nullptr)
      : hub_(hub), loop_(loop) {}
  // Detaches the sessions still subscribed (they no longer reach the registry).
  ~TopicRegistry();
  TopicRegistry(const TopicRegistry&) = delete;
  TopicRegistry& operator=(const TopicRegistry&) = delete;

  bool subscribe(Session& session, std::string_view topic);  // false if already subscribed
  bool subscribe(Session& session, std::string_view topic, SubscribeOptions options);
  bool unsubscribe(Session& session, std::string_view topic);
  void unsubscribe_all(Session& session);
  bool subscribed(const Session& session, std::string_view topic) const;
  std::size_t subscribers(std::string_view topic) const;
  // Queues the message on every subscriber except `exclude`; returns how many got it. A
  // subscriber still recovering keeps it until its recovery is done. With metrics, counts the
  // deliveries and, when there were subscribers, the time since `published` (the publish()
  // call; not set for messages that came through a broker).
  std::size_t deliver(std::string_view topic, const std::shared_ptr<const Publication>& message,
                      const Session* exclude, std::chrono::steady_clock::time_point published = {});
  std::size_t deliver(std::string_view topic, const std::shared_ptr<const SharedFrame>& frame,
                      const Session* exclude, std::chrono::steady_clock::time_point published = {});
  // The broker's answer to recovery `id` (posted to this loop by the hub).
  void recovered(std::uint64_t id, RecoveryResult result);
  TopicHub* hub() const noexcept { return hub_; }
  // This loop's counters (server workers), set before the loop runs.
  void set_metrics(ConnectionMetrics* metrics) noexcept { metrics_ = metrics; }

 private:
  struct Recovering {
    std::uint64_t id;
    Session* session;
    std::string topic;
    SubscribeOptions options;
    std::vector<std::shared_ptr<const Publication>> live;  // arrived meanwhile
  };
  std::size_t local_count(std::string_view topic) const;
  void gained(std::string_view topic);  // a subscription was added: tell the hub if first
  void lost(std::string_view topic);    // one was removed: tell the hub if it was the last
  std::size_t deliver_to(const Subscriptions<Session>& set, std::string_view topic,
                         const std::shared_ptr<const SharedFrame>& frame, const Session* exclude,
                         std::chrono::steady_clock::time_point published);

  Subscriptions<Session> subscriptions_;
  Subscriptions<Session> positioned_;  // subscribers that asked for positions
  std::vector<Recovering> recovering_;
  std::uint64_t next_recovery_ = 1;
  TopicHub* hub_;
  ConnectionMetrics* metrics_ = nullptr;
  io::EventLoop* loop_;
};

// Any thread. Loops are attached before they run and must outlive the hub's use.
class WSX_LAYER_API TopicHub final : public BrokerSink {
 public:
  void attach(io::EventLoop& loop, TopicRegistry& registry);
  // Counts every publish() here (set before the loops run).
  void set_publish_counter(Counter publishes) noexcept { publishes_ = publishes; }
  // Before the loops run; the broker outlives them.
  void set_broker(Broker* broker) noexcept { broker_ = broker; }
  Broker* broker() const noexcept { return broker_; }
  // Without a broker: frames the message once and delivers it on every attached loop.
  // `exclude` (a connection of the calling loop) is skipped. Returns false if some loop could
  // not take it (stopped). With a broker: hands it over (false: refused, see Broker::publish).
  bool publish(std::string_view topic, MessageKind kind, std::span<const std::uint8_t> payload,
               const Session* exclude = nullptr);
  // BrokerSink: the broker's loop thread.
  void deliver(const BrokerMessage& message) override;

  // Registries (their loop threads): the loop's first subscription to `topic` / its last one.
  void loop_gained(std::string_view topic);
  void loop_lost(std::string_view topic);
  // Asks the broker for what `topic` had after `since`; the answer goes to `registry` on
  // `loop` as recovered(id, ...). Without a broker the answer is `unavailable`.
  void recover(std::string_view topic, std::string_view since, io::EventLoop& loop,
               TopicRegistry& registry, std::uint64_t id);

 private:
  struct Member {
    io::EventLoop* loop;
    io::LoopHandle handle;
    TopicRegistry* registry;
  };
  std::vector<Member> members_;
  Counter publishes_;
  Broker* broker_ = nullptr;
  std::mutex loops_mutex_;
  std::unordered_map<std::string, std::size_t> loops_per_topic_;
};

}  // namespace wsx::session
