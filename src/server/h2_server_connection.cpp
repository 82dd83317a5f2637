#include "server/h2_server_connection.hpp"

#include <chrono>
#include <utility>
#include <vector>

#include "session/callback_exception.hpp"
#include "session/connection_metrics.hpp"

namespace wsx::server {
namespace {

// After GOAWAY (or a connection error) the peer may still have bytes in flight: read and drop
// this many while our last frames leave, then reset.
constexpr std::size_t linger_discard_limit = 256 * 1024;
// ... and at most this long: a peer that never closes its side does not hold the connection.
constexpr std::chrono::seconds linger_timeout{2};

}  // namespace

H2ServerConnection::Entry::~Entry() {
  if (--connection_.depth_ == 0 && connection_.closed_ && !connection_.released_) {
    connection_.released_ = true;
    connection_.owner_.release(connection_);  // destroys the connection
  }
}

H2ServerConnection::H2ServerConnection(ServerShared& shared, io::EventLoop& loop,
                                       std::unique_ptr<io::Stream> stream, Owner& owner,
                                       session::ConnectionMetrics* connection_metrics,
                                       const io::SocketAddress& peer, const H2Limits& limits,
                                       session::TopicRegistry* topics,
                                       session::BudgetLedger* budget)
    : shared_(shared),
      loop_(loop),
      stream_(std::move(stream)),
      owner_(owner),
      metrics_(connection_metrics),
      peer_(peer),
      remote_(peer.to_string()),
      h2_(*this, limits),
      idle_([this] { on_idle(); }) {
  stream_->set_handler(*this);
  SessionOwner::metrics = connection_metrics;
  SessionOwner::budget_ledger = budget;
  SessionOwner::topic_registry = topics;
  if (metrics_ != nullptr) metrics_->http2_connection_opened();
}

H2ServerConnection::~H2ServerConnection() {
  for (auto& [id, waiting] : waiting_) {
    if (waiting->pending) cancel_pending(*waiting->pending);
  }
  // An owner destroying us at once (shutdown timeout): the WebSockets go with us, reported.
  while (!websockets_.empty()) {
    StreamSession* session = websockets_.begin()->second;
    websockets_.erase(websockets_.begin());
    session->carrier().detach();
    session->terminate();
    delete session;
  }
  if (metrics_ != nullptr) metrics_->http2_connection_closed();
}

void H2ServerConnection::start(std::span<std::uint8_t> first) {
  Entry entry(*this);
  if (!first.empty()) {
    receive(first);
  } else {
    after_io();  // our SETTINGS go first
  }
}

void H2ServerConnection::going_away(bool keep_for_polling) {
  Entry entry(*this);
  if (closed_ || closing_) return;
  if (going_away_) {
    if (goaway_deferred_ && !keep_for_polling) {  // the polling sessions are gone: GOAWAY now
      goaway_deferred_ = false;
      goaway_pending_ = true;
      after_io();
    }
    return;
  }
  going_away_ = true;
  // 1001 to every WebSocket first, then GOAWAY: their closing handshakes finish on their
  // streams, and no new stream opens. nghttp2 sends a GOAWAY ahead of any DATA queued with it,
  // so it is submitted only once the close frames have left (gather_output).
  std::vector<StreamSession*> sessions;
  for (const auto& [id, session] : websockets_) sessions.push_back(session);
  for (StreamSession* session : sessions) session->going_away();  // may release it
  if (keep_for_polling) {
    goaway_deferred_ = true;
  } else {
    goaway_pending_ = true;
  }
  after_io();
}

void H2ServerConnection::close_now() noexcept {
  released_ = true;
  stream_->close();
  closed_transport();
}

void H2ServerConnection::close_gracefully() {
  closing_ = true;
  loop_.arm(idle_, linger_timeout);  // now the bound of the lingering close
  stream_->close_gracefully(linger_discard_limit);
}

void H2ServerConnection::closed_transport() {
  closed_ = true;
  idle_.cancel();
  for (auto& [id, waiting] : waiting_) {
    if (waiting->pending) cancel_pending(*waiting->pending);
    charges_.erase(id);
  }
  waiting_.clear();
  polls_.clear();  // their answers, still on their way, are dropped
  // The connection is gone: each WebSocket on it fails (1006) and is released.
  std::vector<std::int32_t> ids;
  for (const auto& [id, session] : websockets_) ids.push_back(id);
  for (const std::int32_t id : ids) {
    if (H2StreamCarrier* carrier = carrier_of(id))
      carrier->stream_closed(static_cast<std::uint32_t>(H2Error::cancel));
  }
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
  std::span<const std::uint8_t> bytes = h2_.output();
  if (bytes.empty() && goaway_pending_) {
    // What the streams had to send (the 1001 close frames, as far as their windows allow) is
    // out: now the GOAWAY.
    goaway_pending_ = false;
    h2_.shutdown();
    bytes = h2_.output();
  }
  if (bytes.empty()) {
    // The last frame (a GOAWAY) has left nghttp2 and nothing more is wanted either way: the
    // flush that asked goes on to close_notify and FIN.
    if (h2_.finished() && !closing_ && !closed_) close_gracefully();
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
  close_gracefully();
}

void H2ServerConnection::on_stream_error(std::string_view) {
  Entry entry(*this);
  closed_transport();
}

void H2ServerConnection::after_io() {
  if (closed_) return;
  if (h2_.finished() && !closing_) {
    // Both sides are done (GOAWAY sent and no stream left, or a connection error).
    close_gracefully();
    return;
  }
  stream_->request_flush();
  if (closing_) return;  // the linger's bound is armed
  if (h2_.open_streams() == 0) {
    if (!idle_.armed() && shared_.options.handshake_timeout.count() > 0) {
      loop_.arm(idle_, shared_.options.handshake_timeout);
    }
  } else {
    idle_.cancel();
  }
}

void H2ServerConnection::on_idle() {
  Entry entry(*this);
  if (closing_) {  // the peer did not close its side in time: our part is done
    stream_->close();
    closed_transport();
    return;
  }
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
  record.transport = Transport::http2;
  log_access(shared_, remote_, record, &head);
  charges_.erase(stream_id);  // no WebSocket on this stream: what it took goes back
  h2_.respond(stream_id, response, head.method == "HEAD");
}

void H2ServerConnection::on_request(H2Request& request) {
  const proto::HttpHead& head = request.head;
  if (refusal_) {
    respond(request.stream_id, head, refusal_->response, refusal_->reason);
    going_away();  // GOAWAY once the answer is out
    return;
  }
  GateOutcome gate = pass_gate(shared_, head);
  switch (gate.kind) {
    case GateOutcome::Kind::refuse:
      respond(request.stream_id, head, gate.response, gate.reason);
      return;
    case GateOutcome::Kind::plain_http:
      respond(request.stream_id, head, serve_plain_http(shared_, head, *gate.target, remote_));
      return;
    case GateOutcome::Kind::long_polling:
      poll_request(request.stream_id, *gate.route, head, *gate.target);
      return;
    case GateOutcome::Kind::upgrade:
      break;
  }
  if (!charge_stream(request.stream_id, head)) return;
  const Route& route = *gate.route;
  if (route.behavior.upgrade_async) {
    wait_for_decision(request.stream_id, route, head, std::move(*gate.request), false);
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

void H2ServerConnection::wait_for_decision(std::int32_t stream_id, const Route& route,
                                           const proto::HttpHead& head,
                                           proto::UpgradeRequest request, bool poll_open) {
  auto waiting = std::make_unique<Waiting>();
  waiting->connection = this;
  waiting->stream_id = stream_id;
  waiting->route = &route;
  waiting->head = &head;
  waiting->request = std::move(request);
  waiting->poll_open = poll_open;
  waiting->pending = make_pending(loop_.handle(), *waiting);
  Waiting& kept = *waiting;
  waiting_[stream_id] = std::move(waiting);
  try {
    route.behavior.upgrade_async(request_view(head, kept.request, remote_),
                                 ResponderFactory::make(kept.pending));
  } catch (...) {
    cancel_pending(*kept.pending);
    waiting_.erase(stream_id);
    session::report_current_exception(&shared_.options.error_hook, "upgrade_async", route.pattern,
                                      remote_);
    respond(stream_id, head, internal_error());
  }
}

void H2ServerConnection::Waiting::decided(UpgradeDecision decision) {
  H2ServerConnection& self = *connection;
  Entry entry(self);
  cancel_pending(*pending);
  // Moved out first: apply() may end the stream, and with it this entry.
  std::unique_ptr<Waiting> kept = std::move(self.waiting_.at(stream_id));
  self.waiting_.erase(stream_id);
  if (kept->poll_open) {
    self.open_poll(kept->stream_id, *kept->route, *kept->head, kept->request, std::move(decision));
  } else {
    self.apply(kept->stream_id, *kept->route, *kept->head, kept->request, std::move(decision));
  }
  self.after_io();
}

void H2ServerConnection::apply(std::int32_t stream_id, const Route& route,
                               const proto::HttpHead& head, const proto::UpgradeRequest& request,
                               UpgradeDecision decision) {
  if (!decision.accepted) {
    respond(stream_id, head, rejection(decision));
    return;
  }
  proto::Accepted accepted = proto::accept_upgrade(request, accept_options(route, decision));
  open_websocket(stream_id, route, head, std::move(accepted), std::move(decision.user_data));
}

void H2ServerConnection::open_websocket(std::int32_t stream_id, const Route& route,
                                        const proto::HttpHead& head, proto::Accepted accepted,
                                        std::any user_data) {
  auto* session = new StreamSession(route.config, static_cast<session::SessionOwner&>(*this),
                                    nullptr, static_cast<h2::H2StreamHost&>(*this), stream_id);
  websockets_[stream_id] = session;
  h2_.respond_streaming(stream_id, 200, accepted.headers, session->carrier());
  if (metrics_ != nullptr) metrics_->upgrade_answered(200);
  AccessRecord record;
  record.status = 200;
  record.subprotocol = accepted.subprotocol ? std::string_view(*accepted.subprotocol) : "";
  for (const auto& [name, value] : accepted.headers) {
    if (name == "sec-websocket-extensions") record.extensions = value;
  }
  record.transport = Transport::http2;
  log_access(shared_, remote_, record, &head);
  session->start(io::Clock::duration::zero());
  session::OpenParams params;
  params.role = proto::Role::server;
  params.deflate = accepted.deflate;
  params.subprotocol = accepted.subprotocol.value_or(std::string());
  params.user_data = std::move(user_data);
  session->open(std::move(params));  // the open callback: it may send, or close
}

bool H2ServerConnection::charge_stream(std::int32_t stream_id, const proto::HttpHead& head) {
  if (going_away_) {  // came before our GOAWAY: no WebSocket opens on a server that stops
    respond(stream_id, head, plain_response(503), "server going away");
    return false;
  }
  const std::size_t max = shared_.options.max_connections;
  if (shared_.connections.fetch_add(1) + 1 > max) {
    shared_.connections.fetch_sub(1);
    respond(stream_id, head, plain_response(503), "server connection limit reached");
    return false;
  }
  AddressLimiter::Admission admission = shared_.address_limits.admit(peer_);
  if (admission.verdict != AddressLimiter::Verdict::admitted) {
    shared_.connections.fetch_sub(1);
    std::string_view reason;
    const proto::HttpResponse refusal = client_refusal(admission, reason);
    respond(stream_id, head, refusal, reason);
    return false;
  }
  charges_.try_emplace(stream_id, shared_.connections, std::move(admission.slot));
  return true;
}

H2StreamCarrier* H2ServerConnection::carrier_of(std::int32_t stream_id) noexcept {
  const auto it = websockets_.find(stream_id);
  return it == websockets_.end() ? nullptr : &it->second->carrier();
}

void H2ServerConnection::release(session::Session& released) noexcept {
  auto& session = static_cast<StreamSession&>(released);
  const std::int32_t id = session.carrier().stream_id();
  websockets_.erase(id);
  h2_.forget_source(id);  // resets the stream if it is still open
  delete &session;
  charges_.erase(id);
  stream_->request_flush();
}

void H2ServerConnection::resume(std::int32_t stream_id) {
  h2_.resume(stream_id);
  stream_->request_flush();
}

void H2ServerConnection::consume(std::int32_t stream_id, std::size_t n) {
  h2_.consume(stream_id, n);
  stream_->request_flush();  // the WINDOW_UPDATE
}

void H2ServerConnection::hold(std::size_t n) {
  h2_.consume_connection(n);
  stream_->request_flush();  // the WINDOW_UPDATE
}

void H2ServerConnection::consume_held(std::int32_t stream_id, std::size_t n) {
  h2_.consume_stream(stream_id, n);
  stream_->request_flush();  // the WINDOW_UPDATE
}

void H2ServerConnection::reset_stream(std::int32_t stream_id) {
  h2_.reset(stream_id, H2Error::cancel);
  stream_->request_flush();
}

void H2ServerConnection::on_remote_end(std::int32_t stream_id) {
  if (H2StreamCarrier* carrier = carrier_of(stream_id)) carrier->remote_ended();
  if (H2PollExchange* poll = poll_of(stream_id)) poll->remote_ended();  // may answer it
}

void H2ServerConnection::on_send_window_update() {
  std::vector<std::int32_t> ids;
  for (const auto& [id, session] : websockets_) {
    if (session->carrier().write_blocked()) ids.push_back(id);
  }
  for (const std::int32_t id : ids) {
    if (H2StreamCarrier* carrier = carrier_of(id)) carrier->window_grew();
  }
}

void H2ServerConnection::on_data(std::int32_t stream_id, std::span<const std::uint8_t> data) {
  if (H2StreamCarrier* carrier = carrier_of(stream_id)) {
    carrier->received(data);  // consumes as the session takes it
    return;
  }
  h2_.consume(stream_id, data.size());  // a request body nobody reads, or copied: reopen at once
  if (H2PollExchange* poll = poll_of(stream_id)) poll->received(data);  // may answer it
}

void H2ServerConnection::on_stream_closed(std::int32_t stream_id, std::uint32_t error) {
  if (H2StreamCarrier* carrier = carrier_of(stream_id)) {
    carrier->stream_closed(error);  // the session ends (and is released)
    return;
  }
  polls_.erase(stream_id);  // a held recv the client gave up: its answer goes nowhere
  const auto it = waiting_.find(stream_id);
  if (it == waiting_.end()) return;
  cancel_pending(*it->second->pending);
  waiting_.erase(it);
  charges_.erase(stream_id);
}

}  // namespace wsx::server
