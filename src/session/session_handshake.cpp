// The session before the WebSocket protocol starts: a Handshake object reads the peer's bytes
// and ends the phase with open(), reject() or abort().
#include <algorithm>
#include <utility>

#include "session/connection_metrics.hpp"
#include "session/output_queue.hpp"
#include "session/session.hpp"
#include "session/session_extras.hpp"

namespace wsx::session {

void Handshake::on_timeout(Session& session) {
  session.abort();
}

void Handshake::on_failed(Session&, std::string_view) {}

bool Handshake::on_going_away(Session&) {
  return false;
}

void Session::write_raw(std::string_view bytes) {
  // With nothing queued ahead, a carrier that writes in place takes the bytes at once (a 101 is
  // sent before the handshake's read returns): no queue is allocated for them, no flush is due.
  if (!output_ && queued_bytes() == 0 && carrier().writes_in_place()) {
    const io::ConstBuffer buffer(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    bytes.remove_prefix(std::min(carrier().write_now({&buffer, 1}), bytes.size()));
    if (bytes.empty()) return;
  }
  if (!output_) output_ = std::make_unique<OutputQueue>();
  output_->append_raw(bytes);
  carrier().request_flush();
}

proto::ConnectionOptions Session::connection_options(
    const std::optional<proto::DeflateParams>& deflate) {
  proto::ConnectionOptions options;
  options.role = client_ ? proto::Role::client : proto::Role::server;
  options.max_message_size = config_->options.max_message_size;
  options.deflate = deflate;
  options.deflate_tuning = config_->deflate_tuning;
  options.deliver_fragments = static_cast<bool>(config_->handlers.fragment);
  if (config_->options.frame_observer != nullptr || config_->handlers.frame) {
    options.frame_observer = &extras().frame_relay;
  }
  return options;
}

void Session::create_protocol() {
  connection_ = proto::Connection(connection_options(std::nullopt));
}

void Session::open(OpenParams params, std::span<std::uint8_t> rest) {
  client_ = params.role == proto::Role::client;
  if (params.deflate) connection_ = proto::Connection(connection_options(params.deflate));
  opened_ = true;
  if (ConnectionMetrics* metrics = owner_.metrics)
    metrics->connection_opened(carrier().transport());
  compressed_ = params.deflate.has_value();
  if (compressed_ && params.role == proto::Role::server &&
      params.deflate->server_no_context_takeover) {
    stateless_compression_window_ = params.deflate->server_max_window_bits;
  }
  if (!params.subprotocol.empty()) extras().subprotocol = std::move(params.subprotocol);
  if (params.user_data.has_value()) extras().user_data = std::move(params.user_data);
  handshake_ended_ = true;
  phase_ = Phase::idle;
  if (config_->options.idle_timeout.count() > 0) {
    loop().arm(timeout(), config_->options.idle_timeout);
  } else {
    timeout().cancel();
  }
  if (config_->handlers.open) call("open", config_->handlers.open);
  if (!rest.empty() && !transport_closed_) {
    receive(rest);
  } else {
    after_output();
  }
}

void Session::reject() {
  handshake_ended_ = true;
  linger();  // the response must not be lost to a reset: a client may still be sending
}

void Session::abort() {
  handshake_ended_ = true;
  carrier().close();
  finish();
}

}  // namespace wsx::session
