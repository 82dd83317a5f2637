#include "session/connection_metrics.hpp"

#include <string>

namespace wsx::session {
namespace {

using metrics_detail::MetricType;
using metrics_detail::Storage;

constexpr std::string_view upgrades_name = "wsx_upgrades_total";
constexpr std::string_view upgrades_help =
    "Answers to WebSocket upgrade requests, by HTTP status (101: accepted).";
constexpr std::string_view close_received_name = "wsx_close_codes_received_total";
constexpr std::string_view close_received_help =
    "Close frames received, by close code (1005: none; 3xxx, 4xxx: application codes).";
constexpr std::string_view close_sent_name = "wsx_close_codes_sent_total";
constexpr std::string_view close_sent_help =
    "Close frames sent, by close code (1005: none; 3xxx, 4xxx: application codes).";

struct CounterSpec {
  std::string_view name;
  std::string_view help;
};
constexpr CounterSpec messages_received{"wsx_messages_received_total",
                                        "WebSocket messages received, by kind."};
constexpr CounterSpec messages_sent{"wsx_messages_sent_total",
                                    "WebSocket messages sent (publish deliveries included)."};
constexpr CounterSpec bytes_received{
    "wsx_message_bytes_received_total",
    "Payload bytes of the messages received, after inflation, by kind."};
constexpr CounterSpec bytes_sent{"wsx_message_bytes_sent_total",
                                 "Payload bytes of the messages sent, before compression."};
constexpr CounterSpec deflate_plain{"wsx_deflate_plain_bytes_total",
                                    "permessage-deflate: bytes on the uncompressed side."};
constexpr CounterSpec deflate_compressed{"wsx_deflate_compressed_bytes_total",
                                         "permessage-deflate: bytes on the compressed side."};
constexpr CounterSpec backpressure_events{
    "wsx_backpressure_events_total",
    "Sends that found the peer behind (socket full or over max_backpressure)."};
constexpr CounterSpec backpressure_drops{
    "wsx_backpressure_drops_total",
    "Sends refused because the connection was over max_backpressure."};
constexpr CounterSpec publish_deliveries{"wsx_publish_deliveries_total",
                                         "Frames queued on subscribers by publishes (fan-out)."};
constexpr CounterSpec connections_open{"wsx_connections_open",
                                       "WebSocket connections open (handshake done)."};
constexpr CounterSpec websockets_open{
    "wsx_websockets_open",
    "WebSocket connections open (handshake done), by transport: h1, h2, long-polling."};
constexpr CounterSpec websockets_opened{"wsx_websockets_opened_total",
                                        "WebSocket connections opened, by transport."};
constexpr CounterSpec http2_open{"wsx_http2_connections_open",
                                 "HTTP/2 connections open (each may carry many WebSockets)."};
constexpr CounterSpec http2_opened{"wsx_http2_connections_total", "HTTP/2 connections accepted."};
constexpr Transport all_transports[] = {Transport::http1, Transport::http2,
                                        Transport::long_polling};
constexpr CounterSpec publish_fanout{
    "wsx_publish_fanout_seconds",
    "Time from publish() until one server thread queued the message on all its subscribers."};

metrics_detail::Series add_open_gauge(MetricsRegistry& registry) {
  return registry.state().add_series(connections_open.name, connections_open.help,
                                     MetricType::gauge, Storage::summed_gauge, {}, nullptr);
}

metrics_detail::Series add_summed_gauge(MetricsRegistry& registry, const CounterSpec& spec,
                                        const MetricLabels& labels = {}) {
  return registry.state().add_series(spec.name, spec.help, MetricType::gauge, Storage::summed_gauge,
                                     labels, nullptr);
}

MetricLabels transport_label(Transport transport) {
  return {{"transport", std::string(transport_name(transport))}};
}

metrics_detail::Series add_fanout_histogram(MetricsRegistry& registry) {
  const std::vector<double> bounds = MetricsRegistry::latency_buckets();
  return registry.state().add_series(publish_fanout.name, publish_fanout.help,
                                     MetricType::histogram, Storage::cells, {}, &bounds);
}

metrics_detail::Series add_counter(MetricsRegistry& registry, std::string_view name,
                                   std::string_view help, const MetricLabels& labels = {}) {
  return registry.state().add_series(name, help, MetricType::counter, Storage::cells, labels,
                                     nullptr);
}

std::string close_label(std::size_t index) {
  if (index < 16) return std::to_string(1000 + index);
  if (index == 16) return "3xxx";
  if (index == 17) return "4xxx";
  return "other";
}

std::size_t close_index(std::uint16_t code) {
  if (code >= 1000 && code <= 1015) return code - 1000u;
  if (code >= 3000 && code <= 3999) return 16;
  if (code >= 4000 && code <= 4999) return 17;
  return 18;
}

}  // namespace

Counter register_builtin_metrics(MetricsRegistry& registry) {
  add_open_gauge(registry);
  for (const Transport transport : all_transports) {
    add_summed_gauge(registry, websockets_open, transport_label(transport));
    add_counter(registry, websockets_opened.name, websockets_opened.help,
                transport_label(transport));
  }
  add_summed_gauge(registry, http2_open);
  add_counter(registry, http2_opened.name, http2_opened.help);
  // Families with labels made on first use still show their HELP and TYPE from the start.
  for (const std::string_view kind : {"text", "binary"}) {
    const MetricLabels labels{{"kind", std::string(kind)}};
    add_counter(registry, messages_received.name, messages_received.help, labels);
    add_counter(registry, messages_sent.name, messages_sent.help, labels);
    add_counter(registry, bytes_received.name, bytes_received.help, labels);
    add_counter(registry, bytes_sent.name, bytes_sent.help, labels);
  }
  add_counter(registry, backpressure_events.name, backpressure_events.help);
  add_counter(registry, backpressure_drops.name, backpressure_drops.help);
  for (const std::string_view direction : {"received", "sent"}) {
    const MetricLabels labels{{"direction", std::string(direction)}};
    add_counter(registry, deflate_plain.name, deflate_plain.help, labels);
    add_counter(registry, deflate_compressed.name, deflate_compressed.help, labels);
  }
  const Counter publishes = registry.counter("wsx_publishes_total", "Messages published.");
  add_counter(registry, publish_deliveries.name, publish_deliveries.help);
  add_fanout_histogram(registry);
  return publishes;
}

ConnectionMetrics::ConnectionMetrics(MetricsRegistry& registry)
    : registry_(registry), shard_(&registry.state().new_shard()) {
  register_builtin_metrics(registry);
  const char* const kinds[] = {"text", "binary"};
  for (std::size_t i = 0; i < 2; ++i) {
    const MetricLabels labels{{"kind", kinds[i]}};
    received_[i] = {counter_cell(messages_received.name, messages_received.help, labels),
                    counter_cell(bytes_received.name, bytes_received.help, labels)};
    sent_[i] = {counter_cell(messages_sent.name, messages_sent.help, labels),
                counter_cell(bytes_sent.name, bytes_sent.help, labels)};
  }
  backpressure_ = counter_cell(backpressure_events.name, backpressure_events.help, {});
  drops_ = counter_cell(backpressure_drops.name, backpressure_drops.help, {});
  const MetricLabels in{{"direction", "received"}};
  const MetricLabels out{{"direction", "sent"}};
  deflate_in_plain_ = counter_cell(deflate_plain.name, deflate_plain.help, in);
  deflate_in_compressed_ = counter_cell(deflate_compressed.name, deflate_compressed.help, in);
  deflate_out_plain_ = counter_cell(deflate_plain.name, deflate_plain.help, out);
  deflate_out_compressed_ = counter_cell(deflate_compressed.name, deflate_compressed.help, out);
  open_ = &shard_->cell(add_open_gauge(registry).cell);
  for (const Transport transport : all_transports) {
    ByTransport& cells = by_transport_[static_cast<std::size_t>(transport)];
    cells.open =
        &shard_->cell(add_summed_gauge(registry, websockets_open, transport_label(transport)).cell);
    cells.opened =
        counter_cell(websockets_opened.name, websockets_opened.help, transport_label(transport));
  }
  http2_open_ = &shard_->cell(add_summed_gauge(registry, http2_open).cell);
  http2_opened_ = counter_cell(http2_opened.name, http2_opened.help, {});
  deliveries_ = counter_cell(publish_deliveries.name, publish_deliveries.help, {});
  const metrics_detail::Series fanout = add_fanout_histogram(registry);
  fanout_cell_ = fanout.cell;
  fanout_bounds_ = fanout.bounds;
}

metrics_detail::Cell* ConnectionMetrics::counter_cell(std::string_view name, std::string_view help,
                                                      const MetricLabels& labels) {
  return &shard_->cell(add_counter(registry_, name, help, labels).cell);
}

void ConnectionMetrics::upgrade_answered(int status) noexcept {
  if (status < 100 || status > 599) status = 500;  // what serialize() sends for it
  metrics_detail::Cell*& cell = upgrade_status_[static_cast<std::size_t>(status - 100)];
  try {
    if (cell == nullptr) {
      cell = counter_cell(upgrades_name, upgrades_help, {{"status", std::to_string(status)}});
    }
  } catch (...) {
    return;
  }
  metrics_detail::bump(*cell, 1);
}

metrics_detail::Cell* ConnectionMetrics::close_cell(
    std::array<metrics_detail::Cell*, close_classes>& cells, bool received, std::uint16_t code) {
  const std::size_t index = close_index(code);
  metrics_detail::Cell*& cell = cells[index];
  if (cell == nullptr) {
    cell = counter_cell(received ? close_received_name : close_sent_name,
                        received ? close_received_help : close_sent_help,
                        {{"code", close_label(index)}});
  }
  return cell;
}

void ConnectionMetrics::close_received(std::uint16_t code) noexcept {
  try {
    metrics_detail::bump(*close_cell(close_received_, true, code), 1);
  } catch (...) {
  }
}

void ConnectionMetrics::close_sent(std::uint16_t code) noexcept {
  try {
    metrics_detail::bump(*close_cell(close_sent_, false, code), 1);
  } catch (...) {
  }
}

}  // namespace wsx::session
