#include "server/h2_server_connection.hpp"

#include <utility>

#include "session/callback_exception.hpp"
#include "session/connection_metrics.hpp"

namespace wsx::server {
namespace {

// After GOAWAY (or a connection error) the peer may still have bytes in flight: read and drop
// this many while our last frames leave, then reset.
constexpr std::size_t linger_discard_limit = 256 * 1024;

}  // namespace

H2ServerConnection::Entry::~Entry() {
  if (--connection_.depth_ == 0 && connection_.closed_ && !connection_.released_) {
    connection_.released_ = true;
    connection_.owner_.release(connection_);  // destroys the connection
  }
}

H2ServerConnection::H2ServerConnection(ServerShared& shared, io::EventLoop& loop,
                                       std::unique_ptr<io::Stream> stream, Owner& owner,
                                       session::ConnectionMetrics* metrics, std::string remote,
                                       const H2Limits& limits)
    : shared_(shared),
      loop_(loop),
      stream_(std::move(stream)),
      owner_(owner),
      metrics_(metrics),
      remote_(std::move(remote)),
      h2_(*this, limits),
      idle_([this] { on_idle(); }) {
  stream_->set_handler(*this);
}

H2ServerConnection::~H2ServerConnection() {
  for (auto& [id, waiting] : waiting_) {
    if (waiting->pending) cancel_pending(*waiting->pending);
  }
}

void H2ServerConnection::start(std::span<std::uint8_t> first) {
  Entry entry(*this);
  if (!first.empty()) {
    receive(first);
  } else {
    after_io();  // our SETTINGS go first
  }
}

void H2ServerConnection::going_away() {
  Entry entry(*this);
  if (closed_ || closing_) return;
  h2_.shutdown();
  after_io();
}

void H2ServerConnection::close_now() noexcept {
  released_ = true;
  stream_->close();
  closed_transport();
}

void H2ServerConnection::closed_transport() {
  closed_ = true;
  idle_.cancel();
  for (auto& [id, waiting] : waiting_) {
    if (waiting->pending) cancel_pending(*waiting->pending);
  }
  waiting_.clear();
}

// ---- io::StreamHandler

void H2ServerConnection::on_stream_data(std::span<std::uint8_t> data) {
  Entry entry(*this);
  receive(data);
}

void H2ServerConnection::receive(std::span<std::uint8_t> data) {
  if (closing_ || closed_) return;
  // A connection error (a flood, a broken frame, not HTTP/2 at all) is the peer's, like a
  // malformed HTTP/1.1 head: not reported; its GOAWAY goes out, then the connection closes.
  h2_.receive(data);
  after_io();
}

std::size_t H2ServerConnection::gather_output(std::span<io::ConstBuffer> out) {
  if (out.empty()) return 0;
  const std::span<const std::uint8_t> bytes = h2_.output();
  if (bytes.empty()) {
    // The last frame (a GOAWAY) has left nghttp2 and nothing more is wanted either way: the
    // flush that asked goes on to close_notify and FIN.
    if (h2_.finished() && !closing_ && !closed_) {
      closing_ = true;
      idle_.cancel();
      stream_->close_gracefully(linger_discard_limit);
    }
    return 0;
  }
  out[0] = bytes;
  return 1;
}

void H2ServerConnection::consume_output(std::size_t n) {
  h2_.consume_output(n);
}

void H2ServerConnection::on_stream_end() {
  Entry entry(*this);
  if (closing_) {  // our lingering close is over: the socket is closed
    closed_transport();
    return;
  }
  // The peer finished sending without GOAWAY: nothing more can come; what we owe goes out.
  h2_.terminate(H2Error::no_error);
  closing_ = true;
  stream_->close_gracefully(linger_discard_limit);
}

void H2ServerConnection::on_stream_error(std::string_view) {
  Entry entry(*this);
  closed_transport();
}

void H2ServerConnection::after_io() {
  if (closed_) return;
  if (h2_.finished() && !closing_) {
    // Both sides are done (GOAWAY sent and no stream left, or a connection error).
    closing_ = true;
    idle_.cancel();
    stream_->close_gracefully(linger_discard_limit);
    return;
  }
  stream_->request_flush();
  if (h2_.open_streams() == 0 && !closing_) {
    if (!idle_.armed() && shared_.options.handshake_timeout.count() > 0) {
      loop_.arm(idle_, shared_.options.handshake_timeout);
    }
  } else {
    idle_.cancel();
  }
}

void H2ServerConnection::on_idle() {
  Entry entry(*this);
  // No request for a handshake timeout: say goodbye (GOAWAY), then close once it is out.
  h2_.terminate(H2Error::no_error);
  after_io();
}

// ---- H2Handler

void H2ServerConnection::respond(std::int32_t stream_id, const proto::HttpHead& head,
                                 const proto::HttpResponse& response, std::string_view reason) {
  if (tries_websocket(head) && metrics_ != nullptr) metrics_->upgrade_answered(response.status);
  AccessRecord record;
  record.status = response.status;
  record.body_size = response.body.size();
  record.reason = reason;
  log_access(shared_, remote_, record, &head);
  h2_.respond(stream_id, response, head.method == "HEAD");
}

void H2ServerConnection::on_request(H2Request& request) {
  const proto::HttpHead& head = request.head;
  GateOutcome gate = pass_gate(shared_, head);
  switch (gate.kind) {
    case GateOutcome::Kind::refuse:
      respond(request.stream_id, head, gate.response, gate.reason);
      return;
    case GateOutcome::Kind::plain_http:
      respond(request.stream_id, head, serve_plain_http(shared_, head, *gate.target, remote_));
      return;
    case GateOutcome::Kind::upgrade:
      break;
  }
  const Route& route = *gate.route;
  if (route.behavior.upgrade_async) {
    auto waiting = std::make_unique<Waiting>();
    waiting->connection = this;
    waiting->stream_id = request.stream_id;
    waiting->route = &route;
    waiting->head = &head;
    waiting->request = std::move(*gate.request);
    waiting->pending = make_pending(loop_.handle(), *waiting);
    Waiting& kept = *waiting;
    waiting_[request.stream_id] = std::move(waiting);
    try {
      route.behavior.upgrade_async(request_view(head, kept.request, remote_),
                                   ResponderFactory::make(kept.pending));
    } catch (...) {
      cancel_pending(*kept.pending);
      waiting_.erase(request.stream_id);
      session::report_current_exception(&shared_.options.error_hook, "upgrade_async", route.pattern,
                                        remote_);
      respond(request.stream_id, head, internal_error());
    }
    return;
  }
  std::optional<UpgradeDecision> decision =
      decide_now(shared_, route, head, *gate.request, remote_);
  if (!decision) {
    respond(request.stream_id, head, internal_error());
    return;
  }
  apply(request.stream_id, route, head, *gate.request, std::move(*decision));
}

void H2ServerConnection::Waiting::decided(UpgradeDecision decision) {
  H2ServerConnection& self = *connection;
  Entry entry(self);
  cancel_pending(*pending);
  // Moved out first: apply() may end the stream, and with it this entry.
  std::unique_ptr<Waiting> kept = std::move(self.waiting_.at(stream_id));
  self.waiting_.erase(stream_id);
  self.apply(kept->stream_id, *kept->route, *kept->head, kept->request, std::move(decision));
  self.after_io();
}

void H2ServerConnection::apply(std::int32_t stream_id, const Route& route,
                               const proto::HttpHead& head, const proto::UpgradeRequest& request,
                               UpgradeDecision decision) {
  if (!decision.accepted) {
    respond(stream_id, head, rejection(decision));
    return;
  }
  // The negotiation runs as it will once the stream carries the WebSocket, so its outcome is
  // tested now; the answer waits for the stream carrier (see the header).
  const proto::Accepted accepted = proto::accept_upgrade(request, accept_options(route, decision));
  (void)accepted;
  respond(stream_id, head,
          plain_response(501, "WebSocket over HTTP/2 is not carried by this server yet\n"),
          "websocket over http/2 not carried yet");
}

void H2ServerConnection::on_data(std::int32_t stream_id, std::span<const std::uint8_t> data) {
  // No stream carries a body anyone reads yet: the window reopens at once.
  h2_.consume(stream_id, data.size());
}

void H2ServerConnection::on_stream_closed(std::int32_t stream_id, std::uint32_t) {
  const auto it = waiting_.find(stream_id);
  if (it == waiting_.end()) return;
  cancel_pending(*it->second->pending);
  waiting_.erase(it);
}

}  // namespace wsx::server
