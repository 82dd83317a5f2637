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
  if (closes_at_once()) {
    if (queued_bytes() > 0) {  // the close once our last bytes are in the kernel
      carrier().close_after_output();
      return false;
    }
    carrier().close();
    finish();
    return true;
  }
  linger();
  return true;
}

// RFC 6455 §7.1.1: a server that has both sent and received a close frame closes TCP at once.
// Over plain TCP (a carrier whose consumed bytes are as good as delivered: the kernel sends
// them, then FIN) that is safe when no reset can follow, since a reset may destroy our close
// frame before the peer has read it, and closing a socket with unread input sends one:
// - our close came first: the peer's reply shows it has read our close frame, nothing of ours
//   is left for a reset to destroy (and a graceful stop does not wait for every client's FIN);
// - the peer's close came first: nothing followed its close frame (§5.5.1 allows nothing) and
//   the read that brought it took all the socket held. That is the usual client close: it
//   costs no shutdown, no wait for the peer's FIN and no read of it (3 system calls).
// Otherwise (a failure, TLS with its close_notify, a peer still sending) the close lingers.
bool Session::closes_at_once() const noexcept {
  if (connection_.state() != proto::ConnectionState::closed ||
      connection_.role() != proto::Role::server || !carrier().consumed_is_delivered()) {
    return false;
  }
  return closed_first_ || (!connection_.input_after_close() && carrier().input_drained());
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
  if (TopicRegistry* topics = topics_registry()) topics->unsubscribe_all(*this);
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
