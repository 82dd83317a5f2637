// How a session ends: the closing handshake (ours or the peer's), the lingering close of the
// carrier, the close callback, and the end of the transport.
#include <memory>

#include "session/connection_metrics.hpp"
#include "session/handle_state.hpp"
#include "session/session.hpp"
#include "session/topics.hpp"

namespace wsx::session {

void Session::going_away() {
  Entry entry(*this);
  if (transport_closed_) return;
  if (phase_ == Phase::lingering) {  // our last frame is out: no reason to hold the stop
    carrier().close();
    finish();
    return;
  }
  if (!opened_) {
    if (handshake_ && !handshake_ended_ && handshake_->on_going_away(*this)) return;
    abort();
    return;
  }
  if (protocol_open()) start_close(1001, "server going away");
}

SendStatus Session::start_close(std::uint16_t code, std::string_view reason) {
  if (!opened_ || transport_closed_) return SendStatus::closed;
  const proto::SendResult result = protocol().close(code, reason);
  if (result == proto::SendResult::ok) {
    closed_first_ = true;
    closing_started();
    after_output();
    return SendStatus::success;
  }
  return result == proto::SendResult::closed ? SendStatus::closed : SendStatus::invalid;
}

void Session::closing_started() {
  if (phase_ == Phase::closing || phase_ == Phase::lingering || phase_ == Phase::done) return;
  phase_ = Phase::closing;
  loop().arm(timeout(), config_->options.close_timeout);
}

bool Session::linger_when_over() {
  if (phase_ == Phase::lingering) return true;
  if (!connection_) return false;  // not created yet: open
  const proto::ConnectionState state = connection_.state();
  if (state != proto::ConnectionState::closed && state != proto::ConnectionState::failed) {
    return false;
  }
  // A server's clean close that it started: the peer's reply shows it has read our close frame,
  // so a reset can no longer destroy anything it needs. Over plain TCP (a carrier whose consumed
  // bytes are as good as delivered) the socket closes as soon as our last bytes are in the
  // kernel (FIN follows them): a graceful stop does not wait for every client's FIN.
  if (state == proto::ConnectionState::closed && closed_first_ &&
      connection_.role() == proto::Role::server && carrier().consumed_is_delivered()) {
    if (queued_bytes() > 0) return false;
    carrier().close();
    finish();
    return true;
  }
  linger();
  return true;
}

// The protocol is over (or never started: a rejection). RFC 6455 §7.1.1: the server closes TCP
// first, so that TIME_WAIT stays with it; a client waits for the server's FIN, except when it
// failed the connection itself (§7.1.7: then it closes). Either way the input is drained, not
// left unread, until the peer's FIN, for close_timeout and linger_discard_limit bytes at most:
// a socket closed with unread input sends RST, which can destroy our last frame unread.
void Session::linger() {
  phase_ = Phase::lingering;
  loop().arm(timeout(), config_->options.close_timeout);
  const bool client_waits = connection_ && connection_.role() == proto::Role::client &&
                            connection_.state() == proto::ConnectionState::closed;
  carrier().close_gracefully(linger_discard_limit, !client_waits);
}

void Session::report_close(std::uint16_t code, std::string_view reason, bool clean) {
  if (close_reported_ || !opened_) return;
  close_reported_ = true;
  if (config_->handlers.close)
    call("close", config_->handlers.close, CloseInfo{code, reason, clean});
  // Nothing reaches the application after its close callback, so its subscriptions end here,
  // not when TCP is done lingering: with a broker, the node's last subscriber leaving is what
  // unsubscribes the node.
  if (topics_registry_ != nullptr) topics_registry_->unsubscribe_all(*this);
}

void Session::count_end() noexcept {
  ConnectionMetrics* metrics = owner_.metrics;
  if (metrics == nullptr || !opened_) return;
  metrics->connection_closed(carrier().transport());
  if (!connection_) return;  // never created: no close frame sent
  if (const std::uint16_t code = connection_.sent_close_code()) metrics->close_sent(code);
}

void Session::finish() {
  if (transport_closed_) return;
  count_end();
  transport_closed_ = true;
  phase_ = Phase::done;
  timeout().cancel();
  carrier().close();
  if (depth_ > 0) return;  // the outermost entry point releases
  // Called from outside any entry point (user code on the loop): release from a posted task,
  // so that the caller may still touch the WebSocket until it returns.
  std::shared_ptr<detail::HandleState> state = make_handle();
  loop().post([state] {
    if (state->connection != nullptr) static_cast<Session*>(state->connection)->run([](auto&) {});
  });
}

}  // namespace wsx::session
