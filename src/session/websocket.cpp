// wsx::WebSocket and WebSocketHandle: the public face of a Session.
#include "wsx/websocket.hpp"

#include <utility>
#include <vector>

#include "session/handle_state.hpp"
#include "session/session.hpp"
#include "session/session_extras.hpp"
#include "session/topics.hpp"

namespace wsx {
namespace {

session::Session& impl(WebSocket& ws) {
  return static_cast<session::Session&>(ws);
}
const session::Session& impl(const WebSocket& ws) {
  return static_cast<const session::Session&>(ws);
}

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace

SendStatus WebSocket::send(std::span<const std::uint8_t> data, MessageKind kind, bool compress) {
  return impl(*this).send_message(data, kind, compress);
}

SendStatus WebSocket::send(std::string_view text, MessageKind kind, bool compress) {
  return impl(*this).send_message(bytes(text), kind, compress);
}

SendStatus WebSocket::send_fragment(std::span<const std::uint8_t> data, MessageKind kind, bool fin,
                                    bool compress) {
  return impl(*this).send_piece(data, kind, fin, compress);
}

SendStatus WebSocket::ping(std::span<const std::uint8_t> payload) {
  return impl(*this).send_control(true, payload);
}

SendStatus WebSocket::pong(std::span<const std::uint8_t> payload) {
  return impl(*this).send_control(false, payload);
}

SendStatus WebSocket::close(std::uint16_t code, std::string_view reason) {
  return impl(*this).start_close(code, reason);
}

void WebSocket::terminate() {
  // Not through Session::run(): run() is an entry point and would release the session before
  // returning, leaving the caller's WebSocket& dangling. finish() releases from a posted task
  // when called outside an entry point, and at the end of the entry point when inside one.
  session::Session& session = impl(*this);
  session.report_close(1006, "terminated", false);
  session.finish();
}

std::size_t WebSocket::buffered_amount() const noexcept {
  return impl(*this).buffered_now();
}

bool WebSocket::is_open() const noexcept {
  const session::Session& session = impl(*this);
  return !session.transport_closed_ && session.protocol_open();
}

std::string_view WebSocket::subprotocol() const noexcept {
  const session::Session& session = impl(*this);
  return session.extras_ ? std::string_view(session.extras_->subprotocol) : std::string_view();
}

bool WebSocket::compressed() const noexcept {
  return impl(*this).compressed_;
}

std::string WebSocket::remote_address() const {
  return impl(*this).carrier().remote_address();
}

std::string_view transport_name(Transport transport) noexcept {
  switch (transport) {
    case Transport::http1:
      return "h1";
    case Transport::http2:
      return "h2";
    case Transport::long_polling:
      return "long-polling";
  }
  return "unknown";
}

Transport WebSocket::transport() const noexcept {
  return impl(*this).carrier().transport();
}

std::any& WebSocket::user_data() noexcept {
  return impl(*this).extras().user_data;
}

bool WebSocket::subscribe(std::string_view topic) {
  session::Session& session = impl(*this);
  session::TopicRegistry* registry = session.topics_registry();
  return registry != nullptr && !session.transport_closed_ && registry->subscribe(session, topic);
}

bool WebSocket::subscribe(std::string_view topic, SubscribeOptions options) {
  session::Session& session = impl(*this);
  session::TopicRegistry* registry = session.topics_registry();
  return registry != nullptr && !session.transport_closed_ &&
         registry->subscribe(session, topic, std::move(options));
}

bool WebSocket::unsubscribe(std::string_view topic) {
  session::Session& session = impl(*this);
  session::TopicRegistry* registry = session.topics_registry();
  return registry != nullptr && registry->unsubscribe(session, topic);
}

bool WebSocket::subscribed(std::string_view topic) const {
  const session::Session& session = impl(*this);
  const session::TopicRegistry* registry = session.topics_registry();
  return registry != nullptr && registry->subscribed(session, topic);
}

bool WebSocket::publish(std::string_view topic, std::span<const std::uint8_t> data,
                        MessageKind kind) {
  session::Session& session = impl(*this);
  session::TopicRegistry* registry = session.topics_registry();
  if (registry == nullptr || registry->hub() == nullptr) return false;
  return registry->hub()->publish(topic, kind, data, &session);
}

bool WebSocket::publish(std::string_view topic, std::string_view text, MessageKind kind) {
  return publish(topic, bytes(text), kind);
}

WebSocketHandle WebSocket::handle() {
  return WebSocketHandle(impl(*this).make_handle());
}

// ------------------------------------------------------------------ WebSocketHandle

bool WebSocketHandle::post(std::function<void(WebSocket&)> task) {
  if (!state_) return false;
  return state_->loop.post([state = state_, task = std::move(task)] {
    if (state->connection != nullptr) impl(*state->connection).run_task(task);
  });
}

bool WebSocketHandle::send(std::span<const std::uint8_t> data, MessageKind kind) {
  return post([copy = std::vector<std::uint8_t>(data.begin(), data.end()), kind](WebSocket& ws) {
    ws.send(copy, kind);
  });
}

bool WebSocketHandle::send(std::string_view text, MessageKind kind) {
  return send(bytes(text), kind);
}

bool WebSocketHandle::close(std::uint16_t code, std::string_view reason) {
  return post([code, reason = std::string(reason)](WebSocket& ws) { ws.close(code, reason); });
}

}  // namespace wsx
