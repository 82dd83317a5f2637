// The server's built-in metrics (the wsx_ names), counted by one server thread.
//
// Each server thread (Worker) has one ConnectionMetrics with a shard of its own in the
// server's registry; sessions reach it through SessionOwner::metrics (null for clients: they
// count nothing). The counters of the message path are resolved to cells once, here, so
// counting a message is a pointer test and two single-writer adds.
//
// Names and labels (Prometheus conventions: _total counters, bytes and seconds):
//   wsx_connections_open                         gauge: WebSocket connections, handshake done
//   wsx_websockets_open{transport}               the same by transport: h1, h2 (a stream of
//                                                an HTTP/2 connection), long-polling
//   wsx_websockets_opened_total{transport}       WebSockets opened (handshake done)
//   wsx_http2_connections_open                   gauge: HTTP/2 connections (any streams)
//   wsx_http2_connections_total                  HTTP/2 connections accepted
//   wsx_upgrades_total{status}                   answers to requests on the WebSocket side
//                                                (101, or the refusal's status; not the
//                                                plain-HTTP answers of ServerOptions::http)
//   wsx_messages_received_total{kind}            kind: text, binary
//   wsx_messages_sent_total{kind}                (pub/sub deliveries included)
//   wsx_message_bytes_received_total{kind}       payload bytes as the application sees them
//   wsx_message_bytes_sent_total{kind}           (inflated in, before compression out)
//   wsx_close_codes_received_total{code}         the peer's close frame (1005: no code)
//   wsx_close_codes_sent_total{code}             our close frame, whatever queued it
//                                                (codes 3000-4999 as "3xxx" / "4xxx": a peer
//                                                cannot make thousands of series)
//   wsx_backpressure_events_total                sends that met backpressure
//   wsx_backpressure_drops_total                 sends refused over max_backpressure
//   wsx_deflate_plain_bytes_total{direction}     permessage-deflate, uncompressed side
//   wsx_deflate_compressed_bytes_total{direction}  and the compressed (wire) side;
//                                                direction: received, sent
//   wsx_publishes_total                          publish() calls
//   wsx_publish_deliveries_total                 frames queued on subscribers by publishes
//   wsx_publish_fanout_seconds                   histogram: from publish() until one thread
//                                                has queued it on all its local subscribers
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "session/layer_export.hpp"
#include "session/metrics_state.hpp"
#include "wsx/metrics.hpp"
#include "wsx/websocket.hpp"

namespace wsx::session {

// Registers the built-in families (so that a scrape shows them before any traffic) and
// returns the registry-wide counter of publish() calls.
WSX_LAYER_API Counter register_builtin_metrics(MetricsRegistry& registry);

class WSX_LAYER_API ConnectionMetrics {
 public:
  // Registers the built-in series and takes a shard for the calling server thread; from then on
  // only that thread (or one that follows it, such as a join) may count here.
  explicit ConnectionMetrics(MetricsRegistry& registry);
  ConnectionMetrics(const ConnectionMetrics&) = delete;
  ConnectionMetrics& operator=(const ConnectionMetrics&) = delete;

  // `count` whole messages of `bytes` in all (the messages of one read).
  void messages_read(MessageKind kind, std::uint64_t count, std::uint64_t bytes) noexcept {
    const Pair& pair = received_[kind == MessageKind::text ? 0 : 1];
    metrics_detail::bump(*pair.messages, count);
    metrics_detail::bump(*pair.bytes, bytes);
  }
  // A piece of a message received in pieces (streaming receive): bytes now, the message once.
  void piece_received(MessageKind kind, std::size_t bytes, bool last) noexcept {
    const Pair& pair = received_[kind == MessageKind::text ? 0 : 1];
    if (last) metrics_detail::bump(*pair.messages, 1);
    metrics_detail::bump(*pair.bytes, bytes);
  }
  void message_sent(MessageKind kind, std::size_t bytes) noexcept {
    const Pair& pair = sent_[kind == MessageKind::text ? 0 : 1];
    metrics_detail::bump(*pair.messages, 1);
    metrics_detail::bump(*pair.bytes, bytes);
  }
  void piece_sent(MessageKind kind, std::size_t bytes, bool last) noexcept {
    const Pair& pair = sent_[kind == MessageKind::text ? 0 : 1];
    if (last) metrics_detail::bump(*pair.messages, 1);
    metrics_detail::bump(*pair.bytes, bytes);
  }
  void backpressure() noexcept { metrics_detail::bump(*backpressure_, 1); }
  void dropped() noexcept { metrics_detail::bump(*drops_, 1); }
  void deflate_received(std::uint64_t compressed, std::uint64_t plain) noexcept {
    metrics_detail::bump(*deflate_in_compressed_, compressed);
    metrics_detail::bump(*deflate_in_plain_, plain);
  }
  void deflate_sent(std::uint64_t plain, std::uint64_t compressed) noexcept {
    metrics_detail::bump(*deflate_out_plain_, plain);
    metrics_detail::bump(*deflate_out_compressed_, compressed);
  }
  void connection_opened(Transport transport) noexcept {
    metrics_detail::bump(*open_, 1);
    const ByTransport& cells = by_transport_[static_cast<std::size_t>(transport)];
    metrics_detail::bump(*cells.open, 1);
    metrics_detail::bump(*cells.opened, 1);
  }
  void connection_closed(Transport transport) noexcept {
    metrics_detail::bump(*open_, ~std::uint64_t{0});  // -1
    metrics_detail::bump(*by_transport_[static_cast<std::size_t>(transport)].open,
                         ~std::uint64_t{0});
  }
  // An HTTP/2 connection (its WebSockets are counted by transport as they open).
  void http2_connection_opened() noexcept {
    metrics_detail::bump(*http2_open_, 1);
    metrics_detail::bump(*http2_opened_, 1);
  }
  void http2_connection_closed() noexcept { metrics_detail::bump(*http2_open_, ~std::uint64_t{0}); }
  void deliveries(std::size_t n) noexcept { metrics_detail::bump(*deliveries_, n); }
  void fanout_seconds(double seconds) noexcept {
    metrics_detail::observe(*shard_, fanout_cell_, *fanout_bounds_, seconds);
  }

  // Once per connection: the series is made on first use of a status or code (when that
  // fails for want of memory, the event goes uncounted).
  void upgrade_answered(int status) noexcept;
  void close_received(std::uint16_t code) noexcept;
  void close_sent(std::uint16_t code) noexcept;

 private:
  struct Pair {
    metrics_detail::Cell* messages;
    metrics_detail::Cell* bytes;
  };
  struct ByTransport {
    metrics_detail::Cell* open = nullptr;
    metrics_detail::Cell* opened = nullptr;
  };
  static constexpr std::size_t transports = 3;  // Transport's values
  // 1000-1015 by number, then 3xxx, 4xxx, anything else.
  static constexpr std::size_t close_classes = 19;

  metrics_detail::Cell* counter_cell(std::string_view name, std::string_view help,
                                     const MetricLabels& labels);
  metrics_detail::Cell* close_cell(std::array<metrics_detail::Cell*, close_classes>& cells,
                                   bool received, std::uint16_t code);

  MetricsRegistry& registry_;
  metrics_detail::Shard* shard_;
  std::array<Pair, 2> received_{};  // text, binary
  std::array<Pair, 2> sent_{};
  metrics_detail::Cell* backpressure_ = nullptr;
  metrics_detail::Cell* drops_ = nullptr;
  metrics_detail::Cell* deflate_in_compressed_ = nullptr;
  metrics_detail::Cell* deflate_in_plain_ = nullptr;
  metrics_detail::Cell* deflate_out_plain_ = nullptr;
  metrics_detail::Cell* deflate_out_compressed_ = nullptr;
  metrics_detail::Cell* open_ = nullptr;
  std::array<ByTransport, transports> by_transport_{};
  metrics_detail::Cell* http2_open_ = nullptr;
  metrics_detail::Cell* http2_opened_ = nullptr;
  metrics_detail::Cell* deliveries_ = nullptr;
  std::uint32_t fanout_cell_ = 0;
  const std::vector<double>* fanout_bounds_ = nullptr;
  std::array<metrics_detail::Cell*, 500> upgrade_status_{};  // 100-599 (serialize's range)
  std::array<metrics_detail::Cell*, close_classes> close_received_{};
  std::array<metrics_detail::Cell*, close_classes> close_sent_{};
};

}  // namespace wsx::session
