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

}  // namespace

Worker::Worker(ServerShared& shared, std::uint16_t index)
    : shared_(shared),
      topics_(&shared.topics, &loop_),
      budget_(loop_, shared.memory),
      metrics_(*shared.options.metrics),
      poll_hub_(loop_, index) {
  poll_hub_.opener = [this](PollOpen& open) { return open_poll_session(open); };
  shared_.topics.attach(loop_, topics_);
  topics_.set_metrics(&metrics_);
  SessionOwner::metrics = &metrics_;
  if (shared_.options.max_buffered_bytes > 0) budget_ledger = &budget_;
}

Worker::~Worker() {
  listeners_.clear();
  destroy_all();
}

std::error_code Worker::listen(const io::SocketAddress& address) {
  auto listener = std::make_unique<io::Listener>(
      loop_, [this](io::TcpSocket socket, const io::SocketAddress& peer) {
        accept(std::move(socket), peer);
      });
  io::ListenOptions options;
  options.reuse_port = true;
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

void Worker::accept(io::TcpSocket socket, const io::SocketAddress& peer) {
  const std::size_t max = shared_.options.max_connections;
  const std::size_t count = shared_.connections.fetch_add(1) + 1;
  if (stopping_ || count > max + refusal_allowance(max)) {
    shared_.connections.fetch_sub(1);
    return;  // the socket closes as it goes out of scope
  }
  // Over the server's limit, the 503 below answers; the client's own limits are not consumed.
  AddressLimiter::Admission admission;
  if (count <= max) admission = shared_.address_limits.admit(peer);
  std::optional<io::TlsSession> tls;
  if (shared_.tls) tls.emplace(*shared_.tls);
  auto* session = new session::TcpSession(shared_.handshake_config, *this,
                                          std::make_unique<UpgradeHandshake>(shared_, peer), loop_,
                                          std::move(socket), std::move(tls));
  if (!session->start(shared_.options.handshake_timeout)) {
    delete session;
    shared_.connections.fetch_sub(1);
    return;
  }
  session->set_topics(&topics_);
  session->owner_next = sessions_;
  if (sessions_ != nullptr) sessions_->owner_prev = session;
  sessions_ = session;
  if (count > max) {
    UpgradeHandshake::refuse(shared_, *session, 503);
  } else if (admission.verdict != AddressLimiter::Verdict::admitted) {
    UpgradeHandshake::refuse_client(shared_, *session, admission);
  } else if (admission.slot.counted()) {
    address_slots_.emplace(session, std::move(admission.slot));
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
  session->set_topics(&topics_);
  session->owner_next = sessions_;
  if (sessions_ != nullptr) sessions_->owner_prev = session;
  sessions_ = session;
  if (open.slot.counted()) address_slots_.emplace(session, std::move(open.slot));
  // An entry point: whatever the open callback does (close, terminate), the session is
  // released safely once it returns.
  session->run([&](WebSocket&) { session->open(std::move(open.params)); });
  return true;
}

void Worker::unlink(session::Session& session) noexcept {
  if (session.owner_prev != nullptr) session.owner_prev->owner_next = session.owner_next;
  if (session.owner_next != nullptr) session.owner_next->owner_prev = session.owner_prev;
  if (sessions_ == &session) sessions_ = session.owner_next;
  session.owner_prev = session.owner_next = nullptr;
}

void Worker::release(session::Session& session) noexcept {
  unlink(session);
  if (!address_slots_.empty()) address_slots_.erase(&session);
  delete &session;
  shared_.connections.fetch_sub(1);
  if (stopping_ && sessions_ == nullptr) loop_.stop();
}

void Worker::destroy_all() noexcept {
  while (sessions_ != nullptr) {
    session::Session* session = sessions_;
    unlink(*session);
    delete session;
    shared_.connections.fetch_sub(1);
  }
  address_slots_.clear();
}

void Worker::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& listener : listeners_) listener->close();
  // going_away() may release the session it is called on (one still handshaking): step first.
  // A long-polling session cannot answer a close 1001 once the connections that carry its
  // requests are gone (they are dropped here, and the listeners closed): it ends now, 1006.
  for (session::Session* session = sessions_; session != nullptr;) {
    session::Session* next = session->owner_next;
    if (session->carrier().transport() == Transport::long_polling) {
      if (static_cast<PollCarrier&>(session->carrier()).channel().closing_gracefully()) {
        session->going_away();  // its close is done: it goes now
      } else {
        session->run([](WebSocket& ws) { ws.terminate(); });
      }
    } else {
      session->going_away();
    }
    session = next;
  }
  if (sessions_ == nullptr) {
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
    destroy_all();
    loop_.stop();
  });
}

}  // namespace wsx::server
