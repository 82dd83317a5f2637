#include "server/worker.hpp"

#include "server/poll_carrier.hpp"
#include "server/upgrade_handshake.hpp"
#include "session/tcp_carrier.hpp"

namespace wsx::server {
namespace {

// Connections past max_connections still get their 503 (a closed socket would look like a
// network failure), up to this many extra; beyond that they are closed at once.
std::size_t refusal_allowance(std::size_t max_connections) {
  return std::max<std::size_t>(64, max_connections / 8);
}

io::EventLoopOptions loop_options(const ServerOptions& options) {
  io::EventLoopOptions loop;
  loop.batch_sends = options.batch_sends;
  loop.coalesce_wait = options.coalesce_wait;
  return loop;
}

}  // namespace

Worker::Worker(ServerShared& shared, std::uint16_t index)
    : shared_(shared),
      loop_(loop_options(shared.options)),
      topics_(&shared.topics, &loop_),
      budget_(loop_, shared.memory),
      metrics_(*shared.options.metrics),
      poll_hub_(loop_, index) {
  poll_hub_.opener = [this](PollOpen& open) { return open_poll_session(open); };
  shared_.topics.attach(loop_, topics_);
  topics_.set_metrics(&metrics_);
  SessionOwner::metrics = &metrics_;
  SessionOwner::topic_registry = &topics_;
  if (shared_.options.max_buffered_bytes > 0) budget_ledger = &budget_;
}

Worker::~Worker() {
  listeners_.clear();
  destroy_all();
}

std::error_code Worker::listen(const io::SocketAddress& address) {
  // Its place in listeners_, which only ever loses its last ones: the callback runs while the
  // listener is there.
  const std::size_t index = listeners_.size();
  auto listener = std::make_unique<io::Listener>(
      loop_, [this, index](io::TcpSocket socket, const io::SocketAddress& peer) {
        accept(std::move(socket), peer, listeners_[index]->defers_accept());
      });
  io::ListenOptions options;
  options.reuse_port = true;
  // Every protocol served here has the client speak first (an HTTP request, a TLS ClientHello,
  // the HTTP/2 preface).
  options.defer_accept = shared_.options.defer_accept;
  if (const std::error_code error = listener->listen(address, options)) return error;
  listeners_.push_back(std::move(listener));
  return {};
}

int Worker::last_listener_fd() const noexcept {
  return listeners_.empty() ? -1 : listeners_.back()->native_handle();
}

std::uint16_t Worker::last_listener_port() const {
  return listeners_.empty() ? 0 : listeners_.back()->local_address().port();
}

void Worker::close_last_listener() noexcept {
  if (!listeners_.empty()) listeners_.pop_back();
}

std::uint16_t Worker::port() const {
  return listeners_.empty() ? 0 : listeners_.front()->local_address().port();
}

void Worker::accept(io::TcpSocket socket, const io::SocketAddress& peer, bool input_waiting) {
  const std::size_t max = shared_.options.max_connections;
  const std::size_t count = shared_.connections.fetch_add(1) + 1;
  if (stopping_ || count > max + refusal_allowance(max)) {
    shared_.connections.fetch_sub(1);
    return;  // the socket closes as it goes out of scope
  }
  // Over the server's limit, the 503 below answers; the client's own limits are not consumed.
  AddressLimiter::Admission admission;
  if (count <= max) admission = shared_.address_limits.admit(peer);
  const bool admitted = count <= max && admission.verdict == AddressLimiter::Verdict::admitted;
  const bool may_be_h2 =
      shared_.tls ? shared_.options.http2 : shared_.options.http2_prior_knowledge;
  if (may_be_h2) {
    // HTTP/2 or HTTP/1.1: ALPN tells once the TLS handshake is done; on plain TCP, the first
    // bytes (the HTTP/2 client preface or not).
    std::optional<io::TlsSession> tls;
    if (shared_.tls) tls.emplace(*shared_.tls);
    auto* front = new ProtocolSwitch(loop_, std::move(socket), std::move(tls), *this, peer,
                                     shared_.options.handshake_timeout);
    if (!front->is_open()) {
      delete front;
      shared_.connections.fetch_sub(1);
      return;
    }
    front->owner_next = switches_;
    if (switches_ != nullptr) switches_->owner_prev = front;
    switches_ = front;
    // A refusal waits for the protocol the client chooses, and is answered in it.
    if (count > max) {
      front->refusal = AcceptRefusal{plain_response(503), {}};
    } else if (!admitted) {
      std::string_view reason;
      proto::HttpResponse response = client_refusal(admission, reason);
      front->refusal = AcceptRefusal{std::move(response), reason};
    } else if (admission.slot.counted()) {
      address_slots_.emplace(front, std::move(admission.slot));
    }
    if (input_waiting) front->read_now();  // may end the switch: the last use of `front`
    return;
  }
  std::optional<io::TlsSession> tls;
  if (shared_.tls) tls.emplace(*shared_.tls);
  session::TcpSession* session = start_session(std::move(socket), std::move(tls), peer);
  if (session == nullptr) return;
  if (count > max) {
    UpgradeHandshake::refuse(shared_, *session, 503);
  } else if (admission.verdict != AddressLimiter::Verdict::admitted) {
    UpgradeHandshake::refuse_client(shared_, *session, admission);
  } else {
    if (admission.slot.counted()) address_slots_.emplace(session, std::move(admission.slot));
    // The request is in the socket already: handled now (parse, 101, open) rather than after the
    // loop's next wait reports it. May release the session: the last use of `session`.
    if (input_waiting) session->carrier().read_now();
  }
}

bool Worker::open_poll_session(PollOpen& open) {
  const std::size_t max = shared_.options.max_connections;
  if (stopping_ || shared_.connections.fetch_add(1) + 1 > max) {
    shared_.connections.fetch_sub(1);
    return false;
  }
  const Route& route = *open.channel.route;
  auto* session = new PollSession(route.config, *this, nullptr, poll_hub_, std::move(open.channel));
  if (!session->start(io::Clock::duration::zero())) {
    delete session;
    shared_.connections.fetch_sub(1);
    return false;
  }
  session->owner_next = sessions_;
  if (sessions_ != nullptr) sessions_->owner_prev = session;
  sessions_ = session;
  ++polling_sessions_;
  // Keyed by the Session, as release() erases it.
  if (open.slot.counted()) {
    address_slots_.emplace(static_cast<const session::Session*>(session), std::move(open.slot));
  }
  // An entry point: whatever the open callback does (close, terminate), the session is
  // released safely once it returns.
  session->run([&](WebSocket&) { session->open(std::move(open.params)); });
  return true;
}

session::TcpSession* Worker::start_session(io::TcpSocket socket, std::optional<io::TlsSession> tls,
                                           const io::SocketAddress& peer) {
  auto* session = session_blocks_.create<session::TcpSession>(
      shared_.handshake_config, static_cast<session::SessionOwner&>(*this),
      std::make_unique<UpgradeHandshake>(shared_, peer), loop_, std::move(socket), std::move(tls));
  if (!session->start(shared_.options.handshake_timeout)) {
    session_blocks_.destroy(session);
    shared_.connections.fetch_sub(1);
    return nullptr;
  }
  session->owner_next = sessions_;
  if (sessions_ != nullptr) sessions_->owner_prev = session;
  sessions_ = session;
  return session;
}

void Worker::end_switch(ProtocolSwitch& from, const void* successor) noexcept {
  if (from.owner_prev != nullptr) from.owner_prev->owner_next = from.owner_next;
  if (from.owner_next != nullptr) from.owner_next->owner_prev = from.owner_prev;
  if (switches_ == &from) switches_ = from.owner_next;
  const auto slot = address_slots_.find(&from);
  if (slot == address_slots_.end()) return;
  if (successor != nullptr) address_slots_.emplace(successor, std::move(slot->second));
  address_slots_.erase(slot);
}

void Worker::chose_h2(ProtocolSwitch& from, std::unique_ptr<io::Stream> stream,
                      std::span<std::uint8_t> first) {
  auto* connection = new H2ServerConnection(shared_, loop_, std::move(stream), *this, &metrics_,
                                            from.peer(), H2Limits{}, &topics_, budget_ledger);
  if (from.refusal) connection->refuse_all(std::move(*from.refusal));
  connection->owner_next = h2_connections_;
  if (h2_connections_ != nullptr) h2_connections_->owner_prev = connection;
  h2_connections_ = connection;
  end_switch(from, connection);
  delete &from;
  connection->start(first);  // may release it
}

void Worker::chose_http1(ProtocolSwitch& from, io::Stream::Released connection, std::string first) {
  const io::SocketAddress peer = from.peer();
  std::optional<AcceptRefusal> refusal = std::move(from.refusal);
  session::Session* session =
      start_session(std::move(connection.socket), std::move(connection.tls), peer);
  end_switch(from, session);
  delete &from;  // and its stream, released: we are inside its callback, which it allows
  if (session == nullptr) return;
  if (refusal) {
    // As on a connection that cannot be HTTP/2: answered at once, what it sent is dropped.
    UpgradeHandshake::refuse_with(shared_, *session, *refusal);
    return;
  }
  session->carrier_data({reinterpret_cast<std::uint8_t*>(first.data()), first.size()});
}

void Worker::switch_failed(ProtocolSwitch& from, std::string_view reason) {
  // As UpgradeHandshake::on_failed: a failed TLS handshake is reported, a client that just
  // leaves (a TCP health check) is not.
  const io::TlsSession* tls = from.stream() != nullptr ? from.stream()->tls() : nullptr;
  if (tls != nullptr && !tls->handshake_done() && tls->state() == io::TlsState::failed) {
    std::string_view message = tls->error().empty() ? reason : std::string_view(tls->error());
    constexpr std::string_view said_already = "TLS handshake failed: ";
    if (message.starts_with(said_already)) message.remove_prefix(said_already.size());
    const std::string remote = from.peer().to_string();
    report_error(
        shared_.options.error_hook,
        {.source = ErrorSource::tls_handshake, .message = message, .remote_address = remote});
  }
  end_switch(from, nullptr);
  delete &from;
  connection_gone();
}

void Worker::release(H2ServerConnection& connection) noexcept {
  if (connection.owner_prev != nullptr) connection.owner_prev->owner_next = connection.owner_next;
  if (connection.owner_next != nullptr) connection.owner_next->owner_prev = connection.owner_prev;
  if (h2_connections_ == &connection) h2_connections_ = connection.owner_next;
  if (!address_slots_.empty()) address_slots_.erase(&connection);
  delete &connection;
  connection_gone();
}

void Worker::connection_gone() noexcept {
  shared_.connections.fetch_sub(1);
  if (stopping_ && no_connections()) loop_.stop();
}

bool Worker::no_connections() const noexcept {
  return sessions_ == nullptr && switches_ == nullptr && h2_connections_ == nullptr;
}

void Worker::unlink(session::Session& session) noexcept {
  if (session.owner_prev != nullptr) session.owner_prev->owner_next = session.owner_next;
  if (session.owner_next != nullptr) session.owner_next->owner_prev = session.owner_prev;
  if (sessions_ == &session) sessions_ = session.owner_next;
  session.owner_prev = session.owner_next = nullptr;
}

void Worker::release(session::Session& session) noexcept {
  const bool polling = session.carrier().transport() == Transport::long_polling;
  unlink(session);
  if (!address_slots_.empty()) address_slots_.erase(&session);
  destroy(session);
  if (polling) --polling_sessions_;
  // Posted: this release may come from inside another session's call (begin_shutdown's loop).
  if (polling && polling_sessions_ == 0 && stopping_) {
    loop_.post([this] { drop_polling_connections(); });
  }
  connection_gone();
}

void Worker::drop_polling_connections() {
  // The last polling session of this thread is closed: the connections kept to carry the
  // closing handshakes go now (a busy one after its answer). going_away() releases only the
  // session it is called on here (none of them is a polling session): step first.
  for (session::Session* kept = sessions_; kept != nullptr;) {
    session::Session* next = kept->owner_next;
    kept->going_away();
    kept = next;
  }
  // HTTP/2 connections kept for the same reason now say GOAWAY. going_away() may release the
  // connection it is called on: step first.
  for (H2ServerConnection* connection = h2_connections_; connection != nullptr;) {
    H2ServerConnection* next = connection->owner_next;
    connection->going_away();
    connection = next;
  }
}

void Worker::destroy(session::Session& session) noexcept {
  // Only start_session() and open_poll_session() make this worker's sessions.
  if (session.carrier().transport() == Transport::long_polling) {
    delete &session;
  } else {
    session_blocks_.destroy(&session);
  }
}

void Worker::destroy_all() noexcept {
  while (sessions_ != nullptr) {
    session::Session* session = sessions_;
    unlink(*session);
    destroy(*session);
    shared_.connections.fetch_sub(1);
  }
  while (switches_ != nullptr) {
    ProtocolSwitch* front = switches_;
    switches_ = front->owner_next;
    delete front;
    shared_.connections.fetch_sub(1);
  }
  while (h2_connections_ != nullptr) {
    H2ServerConnection* connection = h2_connections_;
    h2_connections_ = connection->owner_next;
    delete connection;
    shared_.connections.fetch_sub(1);
  }
  address_slots_.clear();
}

void Worker::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& listener : listeners_) listener->close();
  // going_away() may release the session it is called on (one still handshaking): step first.
  // Long-polling sessions close with 1001 like WebSockets: their close frame goes with the
  // client's held recv, or with its next one (a client between two polls, the usual case), and
  // the HTTP/1.1 connections that serve long polling stay to bring the requests
  // (UpgradeHandshake::on_going_away) until this thread's polling sessions are gone
  // (release()). A client without a held recv has its route's LongPolling::stop_grace for its
  // next request (a live one polls again at once); one that does not come is gone, and its
  // session ends as after the route's timeout (1006) instead of holding the stop.
  for (session::Session* session = sessions_; session != nullptr;) {
    session::Session* next = session->owner_next;
    if (session->carrier().transport() == Transport::long_polling) {
      static_cast<PollCarrier&>(session->carrier()).channel().server_stopping();
    }
    session->going_away();
    session = next;
  }
  if (polling_sessions_ == 0) drop_polling_connections();
  // Connections whose protocol is not chosen yet are still in their TLS handshake (or have not
  // sent their first bytes): dropped, like a session still in its handshake.
  while (switches_ != nullptr) {
    ProtocolSwitch* front = switches_;
    end_switch(*front, nullptr);
    delete front;
    shared_.connections.fetch_sub(1);
  }
  // HTTP/2 connections: 1001 to their WebSockets, then GOAWAY (their streams finish, then they
  // close). One that carried long polling keeps taking new streams, as an HTTP/1.1 one keeps
  // its requests coming, until this thread's polling sessions are gone
  // (drop_polling_connections): a GOAWAY would refuse the next recv that brings a client its
  // 1001.
  for (H2ServerConnection* connection = h2_connections_; connection != nullptr;) {
    H2ServerConnection* next = connection->owner_next;
    connection->going_away(polling_sessions_ > 0 && connection->carried_polling());
    connection = next;
  }
  if (no_connections()) {
    loop_.stop();
    return;
  }
  shutdown_timer_ = loop_.run_after(shared_.options.shutdown_timeout, [this] {
    // Whoever is not done by now (no answer to the 1001, or a peer that does not close TCP
    // after it) is dropped: reported, then destroyed here rather than by the releases
    // terminate() posts, which the stopped loop would never run.
    for (session::Session* session = sessions_; session != nullptr;) {
      session::Session* next = session->owner_next;
      session->terminate();
      session = next;
    }
    for (H2ServerConnection* connection = h2_connections_; connection != nullptr;
         connection = connection->owner_next) {
      connection->close_now();
    }
    destroy_all();
    loop_.stop();
  });
}

}  // namespace wsx::server
