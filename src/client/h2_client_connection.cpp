#include "h2_client_connection.hpp"

#include <algorithm>
#include <utility>

#include "h2_handshake_driver.hpp"
#include "tls_failure.hpp"

namespace wsx::client_detail {
namespace {

// After our GOAWAY the server may still have bytes in flight: read and drop this many while our
// last frames leave, for at most this long.
constexpr std::size_t linger_discard_limit = 256 * 1024;
constexpr std::chrono::seconds linger_timeout{2};
// Streams a connection is assumed to take before the server's SETTINGS say (RFC 9113 §6.5.2
// recommends at least 100).
constexpr std::size_t assumed_max_streams = 100;

h2::H2Limits client_limits() {
  h2::H2Limits limits;
  // Streams the server may open towards us: none (push is off).
  limits.max_concurrent_streams = 0;
  return limits;
}

}  // namespace

H2ClientConnection::Entry::~Entry() {
  H2ClientConnection& c = connection_;
  if (--c.depth_ != 0 || c.state_ != State::closed || !c.streams_.empty() || c.released_) return;
  c.released_ = true;
  c.owner_.connection_closed(c);  // destroys the connection
}

H2ClientConnection::H2ClientConnection(io::EventLoop& loop, io::TcpSocket socket,
                                       io::TlsSession tls, Owner& owner, std::string key,
                                       std::string remote, std::chrono::milliseconds timeout)
    : loop_(loop),
      stream_(std::make_unique<io::Stream>(loop, std::move(socket),
                                           static_cast<io::StreamHandler&>(*this), std::move(tls))),
      owner_(owner),
      key_(std::move(key)),
      remote_(std::move(remote)),
      timeout_(timeout),
      timer_([this] {
        Entry entry(*this);
        if (state_ == State::closing) {  // the server did not close its side in time
          stream_->close();
          closed_transport();
          return;
        }
        ClientError error;
        error.kind = ClientErrorKind::handshake_timeout;
        error.address = remote_;
        error.message = state_ == State::securing
                            ? "the TLS handshake did not complete within "
                            : "the server's HTTP/2 SETTINGS did not come within ";
        error.message += std::to_string(timeout_.count()) + " ms";
        stream_->close();
        fail_waiters(error);
        closed_transport();
      }) {
  if (timeout_.count() > 0) loop_.arm(timer_, timeout_);
  stream_->request_flush();  // the ClientHello
}

H2ClientConnection::~H2ClientConnection() {
  if (serve_ != 0) loop_.cancel(serve_);
  // closed_transport() has ended every stream and their clients released them; a carrier
  // still here (its client destroyed later) must not call us any more.
  for (auto& [id, open] : streams_) open.session->carrier().detach();
}

void H2ClientConnection::add_waiter(H2Waiter& waiter) {
  waiters_.push_back(&waiter);
  if (state_ == State::ready && serve_ == 0) {
    serve_ = loop_.run_after(std::chrono::milliseconds(0), [this] {
      serve_ = 0;
      Entry entry(*this);
      serve_waiters();
      after_io();
    });
  }
}

void H2ClientConnection::remove_waiter(H2Waiter& waiter) noexcept {
  waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), &waiter), waiters_.end());
}

bool H2ClientConnection::accepts_streams() const noexcept {
  if (state_ != State::securing && state_ != State::settings && state_ != State::ready) {
    return false;
  }
  const std::size_t wanted = streams_.size() + waiters_.size();
  if (!h2_ || !h2_->peer_settings_received()) return wanted < assumed_max_streams;
  if (h2_->peer_going_away()) return false;
  return wanted < h2_->peer_max_concurrent_streams();
}

std::int32_t H2ClientConnection::open_stream(H2StreamSession& session,
                                             H2HandshakeDriver& handshake) {
  if (state_ != State::ready || !h2_) return -1;
  const proto::HeaderList fields = handshake.request_fields();
  const std::int32_t id = h2_->submit_request(fields, session.carrier());
  if (id < 0) return id;
  session.carrier().assign_stream(id);
  streams_[id] = Open{&session, &handshake};
  handshake.request_sent(session, id, fields);
  stream_->request_flush();
  return id;
}

void H2ClientConnection::close_now() noexcept {
  Entry entry(*this);
  released_ = true;  // the pool destroys us itself
  timer_.cancel();
  stream_->close();
  std::vector<H2Waiter*> waiters = std::move(waiters_);
  waiters_.clear();
  ClientError error;
  error.kind = ClientErrorKind::connection_lost;
  error.address = remote_;
  error.message = "the HTTP/2 connection pool was destroyed";
  for (H2Waiter* waiter : waiters) waiter->h2_failed(error);
  closed_transport();
}

// ---- readiness

void H2ClientConnection::serve_waiters() {
  while (!waiters_.empty() && state_ == State::ready) {
    H2Waiter* waiter = waiters_.front();
    waiters_.erase(waiters_.begin());
    if (streams_.size() >= h2_->peer_max_concurrent_streams()) {
      waiter->h2_full();  // a stream over the server's limit would wait for another to end
      continue;
    }
    waiter->h2_ready(*this);
  }
}

void H2ClientConnection::turn_away_waiters(std::string_view why) {
  std::vector<H2Waiter*> waiters = std::move(waiters_);
  waiters_.clear();
  for (H2Waiter* waiter : waiters) waiter->h2_unavailable(std::nullopt, why);
}

void H2ClientConnection::fail_waiters(const ClientError& error) {
  std::vector<H2Waiter*> waiters = std::move(waiters_);
  waiters_.clear();
  for (H2Waiter* waiter : waiters) waiter->h2_failed(error);
}

void H2ClientConnection::on_stream_secured() {
  Entry entry(*this);
  if (stream_->tls()->alpn() != "h2") {
    // http/1.1 (or no ALPN): the first waiter upgrades on this very connection, the others
    // open their own.
    state_ = State::unavailable;
    timer_.cancel();
    std::vector<H2Waiter*> waiters = std::move(waiters_);
    waiters_.clear();
    const std::string why = "the server chose " +
                            (stream_->tls()->alpn().empty() ? std::string("no protocol")
                                                            : std::string(stream_->tls()->alpn())) +
                            " by ALPN: HTTP/1.1";
    if (waiters.empty()) {
      stream_->close();
    } else {
      waiters.front()->h2_unavailable(stream_->release(), why);
      waiters.erase(waiters.begin());
    }
    for (H2Waiter* waiter : waiters) waiter->h2_unavailable(std::nullopt, why);
    closed_transport();
    return;
  }
  state_ = State::settings;
  h2_.emplace(static_cast<h2::H2Handler&>(*this), client_limits(), h2::H2Role::client);
  after_io();  // our preface and SETTINGS
}

void H2ClientConnection::on_settings() {
  if (state_ != State::settings) return;
  timer_.cancel();
  if (!h2_->peer_allows_extended_connect()) {
    state_ = State::unavailable;
    turn_away_waiters(
        "the server speaks HTTP/2 without SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): HTTP/1.1");
    close_gracefully();
    return;
  }
  state_ = State::ready;
  serve_waiters();
}

void H2ClientConnection::on_goaway(std::int32_t, std::uint32_t) {
  // The streams already open go on; waiters may try a fresh connection (the pool offers this one
  // no more: accepts_streams()). Streams above the GOAWAY's last stream id are closed by
  // nghttp2 as refused (on_stream_closed).
  std::vector<H2Waiter*> waiters = std::move(waiters_);
  waiters_.clear();
  for (H2Waiter* waiter : waiters) {
    ClientError error;
    error.kind = ClientErrorKind::connection_lost;
    error.address = remote_;
    error.message = "the server sent GOAWAY before the WebSocket's stream opened";
    waiter->h2_goaway(std::move(error));
  }
}

// ---- io::StreamHandler

void H2ClientConnection::on_stream_data(std::span<std::uint8_t> data) {
  Entry entry(*this);
  if (!h2_ || state_ == State::closed) return;
  h2_->receive(data);
  after_io();
}

std::size_t H2ClientConnection::gather_output(std::span<io::ConstBuffer> out) {
  if (out.empty() || !h2_) return 0;
  const std::span<const std::uint8_t> bytes = h2_->output();
  if (bytes.empty()) {
    if (h2_->finished() && state_ != State::closing && state_ != State::closed) {
      close_gracefully();
    }
    return 0;
  }
  out[0] = bytes;
  return 1;
}

void H2ClientConnection::consume_output(std::size_t n) {
  if (h2_) h2_->consume_output(n);
}

void H2ClientConnection::on_stream_end() {
  Entry entry(*this);
  if (state_ == State::closing) {  // our lingering close is over
    closed_transport();
    return;
  }
  if (state_ == State::securing) {
    ClientError error;
    error.kind = ClientErrorKind::tls_failed;
    error.address = remote_;
    error.message = "the server closed the connection during the TLS handshake";
    fail_waiters(error);
  } else if (state_ == State::settings) {
    ClientError error;
    error.kind = ClientErrorKind::connection_lost;
    error.address = remote_;
    error.message = "the server closed the HTTP/2 connection before its SETTINGS";
    fail_waiters(error);
  }
  stream_->close();
  closed_transport();
}

void H2ClientConnection::on_stream_error(std::string_view reason) {
  Entry entry(*this);
  if (state_ == State::securing || state_ == State::settings) {
    ClientError error;
    const io::TlsSession* tls = stream_->tls();
    error.kind =
        state_ == State::securing ? ClientErrorKind::tls_failed : ClientErrorKind::connection_lost;
    error.address = remote_;
    const std::string why =
        tls != nullptr && !tls->error().empty() ? tls->error() : std::string(reason);
    error.message = state_ == State::securing ? tls_failure_message(why)
                                              : "the HTTP/2 connection failed: " + why;
    fail_waiters(error);
  }
  closed_transport();
}

void H2ClientConnection::after_io() {
  if (state_ == State::closed || !h2_) return;
  if (state_ != State::closing && h2_->finished()) {
    close_gracefully();
    return;
  }
  stream_->request_flush();
}

void H2ClientConnection::close_gracefully() {
  if (state_ == State::closing || state_ == State::closed) return;
  state_ = State::closing;
  if (h2_) h2_->terminate(h2::H2Error::no_error);  // GOAWAY, once the output before it is out
  loop_.arm(timer_, linger_timeout);
  stream_->close_gracefully(linger_discard_limit);
}

void H2ClientConnection::closed_transport() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  timer_.cancel();
  // Each WebSocket on the connection fails (1006) and is released by its client.
  std::vector<std::int32_t> ids;
  for (const auto& [id, open] : streams_) ids.push_back(id);
  for (const std::int32_t id : ids) {
    if (h2::H2StreamCarrier* carrier = carrier_of(id)) {
      carrier->stream_closed(static_cast<std::uint32_t>(h2::H2Error::cancel));
    }
  }
}

// ---- h2::H2Handler

h2::H2StreamCarrier* H2ClientConnection::carrier_of(std::int32_t stream_id) noexcept {
  const auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : &it->second.session->carrier();
}

void H2ClientConnection::on_response(h2::H2Response& response) {
  const auto it = streams_.find(response.stream_id);
  if (it == streams_.end() || it->second.handshake == nullptr) return;
  H2StreamSession* session = it->second.session;
  H2HandshakeDriver* handshake = it->second.handshake;
  it->second.handshake = nullptr;  // one response per stream; the driver goes once it opened
  session->run([&](WebSocket&) { handshake->on_response(*session, response); });
}

void H2ClientConnection::on_data(std::int32_t stream_id, std::span<const std::uint8_t> data) {
  if (h2::H2StreamCarrier* carrier = carrier_of(stream_id)) {
    carrier->received(data);  // consumes as the session takes it
    return;
  }
  h2_->consume(stream_id, data.size());
}

void H2ClientConnection::on_remote_end(std::int32_t stream_id) {
  if (h2::H2StreamCarrier* carrier = carrier_of(stream_id)) carrier->remote_ended();
}

void H2ClientConnection::on_stream_closed(std::int32_t stream_id, std::uint32_t error) {
  const auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  // Refused before its answer: the server never processed the extended CONNECT (a GOAWAY's
  // last stream id below it), so the handshake may be tried again elsewhere.
  if (error == static_cast<std::uint32_t>(h2::H2Error::refused_stream) &&
      it->second.handshake != nullptr) {
    it->second.handshake->stream_refused();
  }
  it->second.session->carrier().stream_closed(error);
}

void H2ClientConnection::on_send_window_update() {
  std::vector<std::int32_t> ids;
  for (const auto& [id, open] : streams_) {
    if (open.session->carrier().write_blocked()) ids.push_back(id);
  }
  for (const std::int32_t id : ids) {
    if (h2::H2StreamCarrier* carrier = carrier_of(id)) carrier->window_grew();
  }
}

// ---- h2::H2StreamHost

void H2ClientConnection::resume(std::int32_t stream_id) {
  if (!h2_ || state_ == State::closed) return;
  h2_->resume(stream_id);
  stream_->request_flush();
}

void H2ClientConnection::consume(std::int32_t stream_id, std::size_t n) {
  if (!h2_ || state_ == State::closed) return;
  h2_->consume(stream_id, n);
  stream_->request_flush();  // the WINDOW_UPDATE
}

void H2ClientConnection::hold(std::size_t n) {
  if (!h2_ || state_ == State::closed) return;
  h2_->consume_connection(n);
  stream_->request_flush();  // the WINDOW_UPDATE
}

void H2ClientConnection::consume_held(std::int32_t stream_id, std::size_t n) {
  if (!h2_ || state_ == State::closed) return;
  h2_->consume_stream(stream_id, n);
  stream_->request_flush();  // the WINDOW_UPDATE
}

std::int32_t H2ClientConnection::send_window(std::int32_t stream_id) const {
  return h2_ ? h2_->send_window(stream_id) : 0;
}

void H2ClientConnection::reset_stream(std::int32_t stream_id) {
  if (!h2_ || state_ == State::closed) return;
  h2_->reset(stream_id, h2::H2Error::cancel);
  stream_->request_flush();
}

void H2ClientConnection::carrier_gone(std::int32_t stream_id) noexcept {
  Entry entry(*this);
  streams_.erase(stream_id);
  if (state_ == State::closed) return;  // the pool hears of it when the entry returns
  h2_->forget_source(stream_id);        // resets the stream (CANCEL) if it is still open
  // The last WebSocket is gone: nobody waits for this connection any more.
  if (streams_.empty() && waiters_.empty() && state_ == State::ready) {
    close_gracefully();
  } else {
    stream_->request_flush();
  }
}

}  // namespace wsx::client_detail
