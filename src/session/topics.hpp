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
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "session/layer_export.hpp"
#include "session/subscriptions.hpp"
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

// Loop thread only. Every operation but deliver() is O(1) per subscription (see
// subscriptions.hpp); deliver() walks the topic's subscribers once.
class WSX_LAYER_API TopicRegistry {
 public:
  explicit TopicRegistry(TopicHub* hub = nullptr) : hub_(hub) {}
  // Detaches the sessions still subscribed (they no longer reach the registry).
  ~TopicRegistry();
  TopicRegistry(const TopicRegistry&) = delete;
  TopicRegistry& operator=(const TopicRegistry&) = delete;

  bool subscribe(Session& session, std::string_view topic);  // false if already subscribed
  bool unsubscribe(Session& session, std::string_view topic);
  void unsubscribe_all(Session& session);
  bool subscribed(const Session& session, std::string_view topic) const;
  std::size_t subscribers(std::string_view topic) const;
  // Queues `frame` on every subscriber except `exclude`; returns how many got it. With
  // metrics, counts the deliveries and, when there were subscribers, the time since
  // `published` (the publish() call).
  std::size_t deliver(std::string_view topic, const std::shared_ptr<const SharedFrame>& frame,
                      const Session* exclude, std::chrono::steady_clock::time_point published = {});
  TopicHub* hub() const noexcept { return hub_; }
  // This loop's counters (server workers), set before the loop runs.
  void set_metrics(ConnectionMetrics* metrics) noexcept { metrics_ = metrics; }

 private:
  Subscriptions<Session> subscriptions_;
  TopicHub* hub_;
  ConnectionMetrics* metrics_ = nullptr;
};

// Any thread. Loops are attached before they run and must outlive the hub's use.
class WSX_LAYER_API TopicHub {
 public:
  void attach(io::EventLoop& loop, TopicRegistry& registry);
  // Counts every publish() here (set before the loops run).
  void set_publish_counter(Counter publishes) noexcept { publishes_ = publishes; }
  // Frames the message once and delivers it on every attached loop. `exclude` (a connection of
  // the calling loop) is skipped. Returns false if some loop could not take it (stopped).
  bool publish(std::string_view topic, MessageKind kind, std::span<const std::uint8_t> payload,
               const Session* exclude = nullptr);

 private:
  struct Member {
    io::EventLoop* loop;
    io::LoopHandle handle;
    TopicRegistry* registry;
  };
  std::vector<Member> members_;
  Counter publishes_;
};

}  // namespace wsx::session
