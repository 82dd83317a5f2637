// Session: protocol events to the application's handlers, and the boundary around them.
//
// Application code is a boundary (DESIGN.md): every callback is called through Session::call(),
// which catches what it throws. The exception is reported to the error hook with the callback's
// name, the route and the peer, and the connection fails with 1011: our close frame is queued,
// the protocol stops reading (the rest of the read is dropped), the close callback fires with
// 1011 and the lingering close follows (the frame goes out, then our FIN, the peer's late input
// drained; see Session::linger). Every other connection of the thread goes on. A try block costs
// nothing on the path that does not throw.
//
// No callback after close: once the close callback ran (terminate(), a failure, the end of the
// closing handshake), data and ping/pong events of the same read are not delivered.
#include <string>

#include "session/callback_exception.hpp"
#include "session/connection_metrics.hpp"
#include "session/session.hpp"
#include "wsx/proto/errors.hpp"

namespace wsx::session {

bool Session::delivering() const noexcept {
  // After our own close() the peer's messages still arrive until its close frame (RFC 6455
  // §1.4: it may still be sending); only the close callback, or the transport's end, stops them.
  return !close_reported_ && !transport_closed_;
}

// Inlined into the relay below, which the protocol core calls for each message: without the
// switch over every kind and the frame it needs, a message costs ~20 instructions less to reach
// the application (callgrind, echo of 16-byte text). The message and its bytes are counted by
// the caller.
inline void Session::on_message(const proto::Event& event) {
  if (event.compressed) {
    if (ConnectionMetrics* metrics = owner_.metrics) {
      metrics->deflate_received(event.wire_size, event.data.size());
    }
  }
  const WebSocketHandlers& handlers = config_->handlers;
  if (handlers.message && delivering()) {
    call("message", handlers.message, Message{event.data, event.message_kind});
  }
}

void Session::Events::on_event(const proto::Event& event) {
  if (event.kind == proto::EventKind::message) [[likely]] {
    // Counted here and added to the metrics when the read ends (~Events): two additions to
    // this object instead of the metrics' four loads and two stores per message (a read of an
    // echo of 16-byte text holds 8 messages). Before the handler runs, so that a message whose
    // handler throws is counted too; at the latest when the read ends, before the output its
    // handlers queued is flushed.
    const std::size_t kind = event.message_kind == MessageKind::text ? 0 : 1;
    ++messages_[kind];
    bytes_[kind] += event.data.size();
    session_.on_message(event);
    return;
  }
  session_.on_event(event);
}

Session::Events::~Events() {
  ConnectionMetrics* metrics = session_.owner_.metrics;
  if (metrics == nullptr) return;
  if (messages_[0] != 0) metrics->messages_read(MessageKind::text, messages_[0], bytes_[0]);
  if (messages_[1] != 0) {
    metrics->messages_read(MessageKind::binary, messages_[1], bytes_[1]);
  }
}

void Session::on_event(const proto::Event& event) {
  const WebSocketHandlers& handlers = config_->handlers;
  switch (event.kind) {
    case proto::EventKind::message:
      on_message(event);
      return;
    case proto::EventKind::fragment:  // enabled when handlers.fragment is set
      if (ConnectionMetrics* metrics = owner_.metrics) {
        metrics->piece_received(event.message_kind, event.data.size(), event.last);
        if (event.compressed) metrics->deflate_received(event.wire_size, event.data.size());
      }
      if (handlers.fragment && delivering()) {
        call("fragment", handlers.fragment,
             Fragment{event.data, event.message_kind, event.first, event.last});
      }
      return;
    case proto::EventKind::ping:
      if (handlers.ping && delivering()) call("ping", handlers.ping, event.data);
      return;
    case proto::EventKind::pong:
      if (handlers.pong && delivering()) call("pong", handlers.pong, event.data);
      return;
    case proto::EventKind::close:
      if (ConnectionMetrics* metrics = owner_.metrics) metrics->close_received(event.close_code);
      closing_started();
      report_close(event.close_code, event.close_reason, true);
      return;
    case proto::EventKind::error:
      closing_started();
      report_close(event.close_code, proto::describe(event.error), false);
      return;
  }
}

void Session::on_frame(bool outgoing, const proto::FrameHeader& header,
                       std::span<const std::uint8_t> payload) {
  if (close_reported_) return;  // frames of a read that went on after terminate()
  try {
    if (proto::FrameObserver* observer = config_->options.frame_observer) {
      observer->on_frame(outgoing, header, payload);
    }
    if (config_->handlers.frame) config_->handlers.frame(*this, outgoing, header, payload);
  } catch (...) {
    callback_failed("frame");
  }
}

void Session::callback_failed(std::string_view callback) noexcept {
  std::string remote;
  try {
    remote = remote_address();
  } catch (...) {
  }
  report_current_exception(config_->error_hook, callback, config_->route, remote);

  // The close callback already ran (or is the one that threw): the connection is ending anyway.
  if (close_reported_ || transport_closed_ || !opened_) return;
  try {
    // The peer learns no more than "internal error": what() may hold application secrets.
    protocol().fail(1011, "internal error");
    closing_started();
    report_close(1011, "internal error: an application callback threw", false);
    after_output();
  } catch (...) {
    // Out of memory while failing: drop the connection without its close frame.
    report_close(1006, "internal error: an application callback threw", false);
    carrier().close();
    finish();
  }
}

}  // namespace wsx::session
