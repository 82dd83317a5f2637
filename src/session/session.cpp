#include "session/session.hpp"

#include <algorithm>
#include <utility>

#include "session/connection_metrics.hpp"
#include "session/handle_state.hpp"
#include "session/topics.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::session {

namespace {

// The session receiving on this thread and the bytes it was given: payloads inside them may be
// borrowed by that session's sends until it returns (see settle_borrowed).
struct Receiving {
  const Session* session = nullptr;
  std::span<const std::uint8_t> bytes;
};
thread_local Receiving receiving;

// The part of `frame` left after `offset` bytes, as at most two buffers; returns how many.
template <typename Frame>
std::size_t frame_buffers(const Frame& frame, std::size_t offset, io::ConstBuffer* out,
                          std::size_t room) {
  if (room == 0) return 0;
  if (frame.frame) {
    out[0] = std::span<const std::uint8_t>(frame.frame->bytes).subspan(offset);
    return 1;
  }
  const std::span<const std::uint8_t> header(frame.header.data(), frame.header_size);
  std::size_t n = 0;
  if (offset < header.size()) {
    out[n++] = header.subspan(offset);
    offset = 0;
  } else {
    offset -= header.size();
  }
  if (n < room) out[n++] = frame.payload.subspan(offset);
  return n;
}

}  // namespace

std::size_t Session::QueuedFrame::size() const noexcept {
  return frame ? frame->bytes.size() : header_size + payload.size();
}

void Handshake::on_timeout(Session& session) {
  session.abort();
}

void Handshake::on_failed(Session&, std::string_view) {}

Session::Entry::~Entry() {
  if (--session_.depth_ != 0) return;
  if (session_.handshake_ended_ && session_.handshake_) session_.handshake_.reset();
  if (session_.transport_closed_) {
    session_.owner_.release(session_);  // destroys the session
    return;
  }
  if (BudgetLedger* ledger = session_.budget_ledger()) ledger->update(session_);
}

Session::Session(const SessionConfig& config, SessionOwner& owner,
                 std::unique_ptr<Handshake> handshake)
    : config_(&config),
      owner_(owner),
      handshake_(std::move(handshake)),
      timeout_([this] { on_timeout(); }) {}

Session::~Session() {
  if (!transport_closed_) count_end();  // destroyed by its owner without finishing (shutdown)
  if (BudgetLedger* ledger = budget_ledger()) ledger->forget(*this);
  if (topics_registry_ != nullptr) topics_registry_->unsubscribe_all(*this);
  if (handle_state_) handle_state_->connection = nullptr;
}

bool Session::start(io::Clock::duration handshake_timeout) {
  if (!carrier().is_open()) return false;
  if (handshake_timeout > io::Clock::duration::zero()) loop().arm(timeout_, handshake_timeout);
  return true;
}

proto::ConnectionState Session::protocol_state() const noexcept {
  return connection_ ? connection_->state() : proto::ConnectionState::open;
}

// ------------------------------------------------------------------ handshake phase

void Session::write_raw(std::string_view bytes) {
  if (!raw_output_) raw_output_ = std::make_unique<std::string>();
  raw_output_->append(bytes);
  carrier().request_flush();
}

void Session::open(OpenParams params, std::span<std::uint8_t> rest) {
  proto::ConnectionOptions options;
  options.role = params.role;
  options.max_message_size = config_->options.max_message_size;
  options.deflate = params.deflate;
  options.deflate_tuning = config_->deflate_tuning;
  options.deliver_fragments = static_cast<bool>(config_->handlers.fragment);
  if (config_->options.frame_observer != nullptr || config_->handlers.frame) {
    options.frame_observer = this;
  }
  connection_.emplace(options);
  if (ConnectionMetrics* metrics = owner_.metrics) metrics->connection_opened();
  compressed_ = params.deflate.has_value();
  if (compressed_ && params.role == proto::Role::server &&
      params.deflate->server_no_context_takeover) {
    stateless_compression_window_ = params.deflate->server_max_window_bits;
  }
  subprotocol_ = std::move(params.subprotocol);
  user_data_ = std::move(params.user_data);
  handshake_ended_ = true;
  phase_ = Phase::idle;
  if (config_->options.idle_timeout.count() > 0) {
    loop().arm(timeout_, config_->options.idle_timeout);
  } else {
    timeout_.cancel();
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

// ------------------------------------------------------------------ entry points

void Session::carrier_data(std::span<std::uint8_t> data) {
  Entry entry(*this);
  if (!connection_) {
    if (handshake_ && !handshake_ended_) handshake_->on_data(*this, data);
    return;
  }
  if (phase_ == Phase::idle || phase_ == Phase::ping_sent) {
    phase_ = Phase::idle;
    if (config_->options.idle_timeout.count() > 0) {
      loop().arm(timeout_, config_->options.idle_timeout);  // a field write while moving later
    }
  }
  receiving = {this, data};
  receive(data);
  receiving = {};
  settle_borrowed();
}

bool Session::borrowable(std::span<const std::uint8_t> data) const noexcept {
  const std::span<const std::uint8_t> input = receiving.bytes;
  return receiving.session == this && carrier().writes_in_place() && !data.empty() &&
         data.data() >= input.data() && data.data() + data.size() <= input.data() + input.size();
}

void Session::settle_borrowed() {
  if (!shared_ || shared_->frames.empty()) return;
  const auto borrowed = [](const QueuedFrame& queued) { return !queued.frame; };
  if (std::none_of(shared_->frames.begin(), shared_->frames.end(), borrowed)) return;
  // Everything queued so far leaves in one writev now, while the borrowed payloads are valid.
  if (!transport_closed_) {
    io::ConstBuffer buffers[max_gather_buffers];
    const std::size_t count = carrier_gather(buffers);
    const std::size_t written = carrier().write_now({buffers, count});
    if (written > 0) carrier_consume(written);
  }
  if (!shared_) return;
  // What the socket did not take is copied: the received bytes are about to be reused.
  SharedQueue& queue = *shared_;
  for (std::size_t i = queue.head; i < queue.frames.size(); ++i) {
    QueuedFrame& queued = queue.frames[i];
    if (queued.frame) continue;
    const std::size_t offset = i == queue.head ? queue.offset : 0;
    io::ConstBuffer parts[2];
    const std::size_t count = frame_buffers(queued, offset, parts, 2);
    auto copy = std::make_shared<SharedFrame>();
    for (std::size_t k = 0; k < count; ++k) {
      copy->bytes.insert(copy->bytes.end(), parts[k].begin(), parts[k].end());
    }
    queued.frame = std::move(copy);
    queued.payload = {};
    if (i == queue.head) queue.offset = 0;
  }
}

void Session::receive(std::span<std::uint8_t> data) {
  connection_->receive(data, *this);
  after_output();
}

void Session::on_timeout() {
  Entry entry(*this);
  switch (phase_) {
    case Phase::handshake:
      if (handshake_ && !handshake_ended_) {
        handshake_->on_timeout(*this);
      } else {
        abort();
      }
      return;
    case Phase::idle:
      // Silence: ask the peer for a sign of life before giving up on it.
      connection_->ping();
      phase_ = Phase::ping_sent;
      loop().arm(timeout_, config_->options.idle_ping_wait);
      after_output();
      return;
    case Phase::ping_sent:
      start_close(1001, "idle timeout");
      return;
    case Phase::closing:
      report_close(1006, "closing handshake timed out", false);
      carrier().close();
      finish();
      return;
    case Phase::lingering:  // the peer did not close TCP in time: our part is done
      carrier().close();
      finish();
      return;
    case Phase::done:
      return;
  }
}

void Session::carrier_end() {
  Entry entry(*this);
  if (phase_ == Phase::lingering) {  // the lingering close is over, the socket closed
    finish();
    return;
  }
  if (!connection_) {
    if (handshake_ && !handshake_ended_) handshake_->on_failed(*this, {});
  } else {
    report_close(1006, "connection closed without a closing handshake", false);
  }
  carrier().close();
  finish();
}

void Session::carrier_error(std::string_view reason) {
  Entry entry(*this);
  if (!connection_) {
    if (handshake_ && !handshake_ended_) handshake_->on_failed(*this, reason);
  } else {
    report_close(1006, reason, false);
  }
  finish();
}

void Session::run(const std::function<void(WebSocket&)>& task) {
  Entry entry(*this);
  // After the close callback the connection is over for the application, even while its TCP
  // connection still lingers (waiting for the peer's FIN): work posted through a handle is
  // dropped then, as for a connection that is gone, so no user code follows `close`.
  if (transport_closed_ || close_reported_) return;
  task(*this);
}

void Session::run_task(const std::function<void(WebSocket&)>& task) {
  Entry entry(*this);
  if (transport_closed_ || close_reported_) return;  // as run(): no user code after `close`
  call("task", task);
}

void Session::going_away() {
  Entry entry(*this);
  if (transport_closed_) return;
  if (phase_ == Phase::lingering) {  // our last frame is out: no reason to hold the stop
    carrier().close();
    finish();
    return;
  }
  if (!connection_) {
    abort();
    return;
  }
  if (connection_->state() == proto::ConnectionState::open) start_close(1001, "server going away");
}

// ------------------------------------------------------------------ output

std::size_t Session::queued_bytes() const noexcept {
  return (raw_output_ ? raw_output_->size() : 0) + (shared_ ? shared_->bytes : 0) +
         (connection_ ? connection_->buffered_amount() : 0);
}

std::size_t Session::carrier_gather(std::span<io::ConstBuffer> out) {
  std::size_t n = 0;
  if (out.empty()) return 0;
  if (raw_output_) {
    out[n++] = {reinterpret_cast<const std::uint8_t*>(raw_output_->data()), raw_output_->size()};
  }
  if (!connection_) return n;
  const std::span<const std::uint8_t> pending = connection_->pending_output();
  if (!shared_) {
    if (n < out.size() && !pending.empty()) out[n++] = pending;
    return n;
  }
  const SharedQueue& queue = *shared_;
  std::uint64_t position = queue.consumed;
  // Connection output and shared frames interleave in the order they were queued: each shared
  // frame follows the Connection bytes that existed when it was queued.
  for (std::size_t i = queue.head; i < queue.frames.size(); ++i) {
    if (n == out.size()) return n;
    const QueuedFrame& queued = queue.frames[i];
    if (queued.after > position) {
      out[n++] = pending.subspan(position - queue.consumed, queued.after - position);
      position = queued.after;
      if (n == out.size()) return n;
    }
    n += frame_buffers(queued, i == queue.head ? queue.offset : 0, out.data() + n, out.size() - n);
  }
  const std::uint64_t end = queue.consumed + pending.size();
  if (n < out.size() && position < end) out[n++] = pending.subspan(position - queue.consumed);
  return n;
}

void Session::carrier_consume(std::size_t n) {
  Entry entry(*this);
  if (raw_output_) {
    const std::size_t taken = std::min(n, raw_output_->size());
    raw_output_->erase(0, taken);
    n -= taken;
    if (raw_output_->empty()) raw_output_.reset();  // handshake bytes: not kept
  }
  while (n > 0 && connection_) {
    SharedQueue* const queue = shared_.get();
    const bool frame_next = queue != nullptr && queue->head < queue->frames.size();
    if (frame_next && queue->frames[queue->head].after == queue->consumed) {
      QueuedFrame& queued = queue->frames[queue->head];
      const std::size_t left = queued.size() - queue->offset;
      const std::size_t taken = std::min(n, left);
      queue->offset += taken;
      queue->bytes -= taken;
      n -= taken;
      if (taken == left) {
        queued.frame.reset();
        queue->offset = 0;
        if (++queue->head == queue->frames.size()) {
          queue->frames.clear();
          queue->head = 0;
        }
      }
      continue;
    }
    const std::uint64_t limit = frame_next ? queue->frames[queue->head].after - queue->consumed
                                           : connection_->buffered_amount();
    const std::size_t taken = static_cast<std::size_t>(std::min<std::uint64_t>(n, limit));
    if (taken == 0) break;  // more consumed than gathered: cannot happen, never loop on it
    connection_->consume_output(taken);
    if (queue != nullptr) queue->consumed += taken;
    n -= taken;
  }
  if (connection_ && !transport_closed_ && linger_when_over()) return;
  if (paused_reading_ && buffered_amount() <= config_->options.max_backpressure / 2) {
    paused_reading_ = false;
    if (!budget_stopped()) carrier().resume_reading();
  }
  report_drain_if_due();
}

// The drain callback fires once after a send met backpressure and everything queued has left.
void Session::report_drain_if_due() {
  if (saw_backpressure_ && queued_bytes() == 0 && !close_reported_ && connection_ &&
      connection_->state() == proto::ConnectionState::open) {
    saw_backpressure_ = false;
    if (config_->handlers.drain) call("drain", config_->handlers.drain);
  }
}

void Session::carrier_drained() {
  Entry entry(*this);
  if (paused_reading_) {
    paused_reading_ = false;
    if (!budget_stopped()) carrier().resume_reading();
  }
  report_drain_if_due();
}

void Session::after_output() {
  if (transport_closed_) return;
  if (queued_bytes() > 0) carrier().request_flush();
  if (!connection_ || linger_when_over()) return;
  // A peer that sends but does not read (pings, or requests whose answers pile up) must not
  // grow our output without bound: stop reading until it catches up.
  if (!paused_reading_ && buffered_amount() > config_->options.max_backpressure) {
    paused_reading_ = true;
    carrier().pause_reading();
  }
}

bool Session::linger_when_over() {
  if (phase_ == Phase::lingering) return true;
  const proto::ConnectionState state = connection_->state();
  if (state != proto::ConnectionState::closed && state != proto::ConnectionState::failed) {
    return false;
  }
  // A server's clean close that it started: the peer's reply shows it has read our close frame,
  // so a reset can no longer destroy anything it needs. Over plain TCP the socket closes as soon
  // as our last bytes are in the kernel (FIN follows them): a graceful stop does not wait for
  // every client's FIN.
  if (state == proto::ConnectionState::closed && closed_first_ &&
      connection_->role() == proto::Role::server && carrier().consumed_is_delivered()) {
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
  loop().arm(timeout_, config_->options.close_timeout);
  const bool client_waits = connection_ && connection_->role() == proto::Role::client &&
                            connection_->state() == proto::ConnectionState::closed;
  carrier().close_gracefully(linger_discard_limit, !client_waits);
}

void Session::closing_started() {
  if (phase_ == Phase::closing || phase_ == Phase::lingering || phase_ == Phase::done) return;
  phase_ = Phase::closing;
  loop().arm(timeout_, config_->options.close_timeout);
}

void Session::report_close(std::uint16_t code, std::string_view reason, bool clean) {
  if (close_reported_ || !connection_) return;
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
  if (metrics == nullptr || !connection_) return;
  metrics->connection_closed();
  if (const std::uint16_t code = connection_->sent_close_code()) metrics->close_sent(code);
}

void Session::finish() {
  if (transport_closed_) return;
  count_end();
  transport_closed_ = true;
  phase_ = Phase::done;
  timeout_.cancel();
  carrier().close();
  if (depth_ > 0) return;  // the outermost entry point releases
  // Called from outside any entry point (user code on the loop): release from a posted task,
  // so that the caller may still touch the WebSocket until it returns.
  std::shared_ptr<detail::HandleState> state = make_handle();
  loop().post([state] {
    if (state->connection != nullptr) static_cast<Session*>(state->connection)->run([](auto&) {});
  });
}

// ------------------------------------------------------------------ sending

SendStatus Session::admit(std::size_t size) {
  if (!connection_ || transport_closed_ || connection_->state() != proto::ConnectionState::open) {
    return SendStatus::closed;
  }
  const std::size_t buffered = buffered_amount();
  if (buffered > 0 && buffered + size > config_->options.max_backpressure) {
    saw_backpressure_ = true;
    if (config_->options.backpressure_policy == BackpressurePolicy::refuse) {
      if (ConnectionMetrics* metrics = owner_.metrics) metrics->dropped();
      return SendStatus::dropped;
    }
    start_close(1008, "send buffer limit exceeded: peer too slow");
    return SendStatus::closed;
  }
  return SendStatus::success;
}

SendStatus Session::sent(proto::SendResult result) {
  switch (result) {
    case proto::SendResult::ok:
      break;
    case proto::SendResult::closed:
      return SendStatus::closed;
    case proto::SendResult::invalid:
      return SendStatus::invalid;
  }
  after_output();
  // Sends from outside this session's entry points (publish from another connection's callback)
  // are counted here; inside one, the entry's end counts them.
  if (depth_ == 0 && budget_ledger() != nullptr && !transport_closed_) {
    budget_ledger()->update(*this);
  }
  if (carrier().write_blocked() || buffered_amount() > config_->options.max_backpressure) {
    saw_backpressure_ = true;
    if (ConnectionMetrics* metrics = owner_.metrics) metrics->backpressure();
    return SendStatus::backpressure;
  }
  return SendStatus::success;
}

void Session::count_sent(SendStatus status, MessageKind kind, std::size_t size, bool last,
                         const proto::DeflateTotals& before) noexcept {
  ConnectionMetrics* metrics = owner_.metrics;
  if (status != SendStatus::success && status != SendStatus::backpressure) return;
  metrics->piece_sent(kind, size, last);
  if (!compressed_) return;
  const proto::DeflateTotals after = connection_->deflate_totals();
  if (after.plain != before.plain) {
    metrics->deflate_sent(after.plain - before.plain, after.compressed - before.compressed);
  }
}

SendStatus Session::send_message(std::span<const std::uint8_t> data, MessageKind kind,
                                 bool compress) {
  if (owner_.metrics == nullptr) return send_uncounted(data, kind, compress);
  const proto::DeflateTotals before =
      compressed_ && connection_ ? connection_->deflate_totals() : proto::DeflateTotals{};
  const SendStatus status = send_uncounted(data, kind, compress);
  count_sent(status, kind, data.size(), true, before);
  return status;
}

SendStatus Session::send_uncounted(std::span<const std::uint8_t> data, MessageKind kind,
                                   bool compress) {
  if (sending_fragments_) return SendStatus::invalid;
  const SendStatus admitted = admit(data.size());
  if (admitted != SendStatus::success) return admitted;
  if (data.size() >= direct_send_threshold && carrier().writes_in_place()) {
    borrow_next_ = borrowable(data);
    if (borrow_next_ || queued_bytes() == 0) {
      const proto::SendResult result =
          connection_->send_direct(kind, data, proto::SendFlags{compress}, *this);
      borrow_next_ = false;
      return sent(result);
    }
  }
  return sent(connection_->send(kind, data, proto::SendFlags{compress}));
}

std::size_t Session::write_now(std::span<const std::uint8_t> header,
                               std::span<const std::uint8_t> payload) {
  if (!borrow_next_) {
    const io::ConstBuffer buffers[] = {header, payload};
    return carrier().write_now(buffers);
  }
  // Queued by reference; settle_borrowed() sends or copies it before the bytes go.
  if (!shared_) shared_ = std::make_unique<SharedQueue>();
  SharedQueue& queue = *shared_;
  QueuedFrame queued;
  queued.after = queue.consumed + connection_->buffered_amount();
  std::copy(header.begin(), header.end(), queued.header.begin());
  queued.header_size = static_cast<std::uint8_t>(header.size());
  queued.payload = payload;
  queue.frames.push_back(std::move(queued));
  queue.bytes += header.size() + payload.size();
  return header.size() + payload.size();
}

SendStatus Session::send_piece(std::span<const std::uint8_t> data, MessageKind kind, bool fin,
                               bool compress) {
  const SendStatus admitted = admit(data.size());
  if (admitted != SendStatus::success) return admitted;
  const proto::DeflateTotals before = owner_.metrics != nullptr && compressed_
                                          ? connection_->deflate_totals()
                                          : proto::DeflateTotals{};
  const proto::SendResult result =
      connection_->send_fragment(kind, data, fin, proto::SendFlags{compress});
  if (result == proto::SendResult::ok) sending_fragments_ = !fin;
  const SendStatus status = sent(result);
  if (owner_.metrics != nullptr) count_sent(status, kind, data.size(), fin, before);
  return status;
}

SendStatus Session::send_control(bool ping, std::span<const std::uint8_t> payload) {
  const SendStatus admitted = admit(payload.size());
  if (admitted != SendStatus::success) return admitted;
  return sent(ping ? connection_->ping(payload) : connection_->pong(payload));
}

SendStatus Session::start_close(std::uint16_t code, std::string_view reason) {
  if (!connection_ || transport_closed_) return SendStatus::closed;
  const proto::SendResult result = connection_->close(code, reason);
  if (result == proto::SendResult::ok) {
    closed_first_ = true;
    closing_started();
    after_output();
    return SendStatus::success;
  }
  return result == proto::SendResult::closed ? SendStatus::closed : SendStatus::invalid;
}

SendStatus Session::send_shared(const std::shared_ptr<const SharedFrame>& frame) {
  if (sending_fragments_) return SendStatus::invalid;  // cannot interleave with our fragments
  const SendStatus admitted = admit(frame->bytes.size());
  if (admitted != SendStatus::success) return admitted;
  const std::span<const std::uint8_t> payload = frame->payload();
  if (!frame->compressed && compressed_ && payload.size() >= config_->deflate_tuning.threshold) {
    const proto::DeflateTotals before =
        owner_.metrics != nullptr ? connection_->deflate_totals() : proto::DeflateTotals{};
    const SendStatus status = sent(connection_->send(frame->kind, payload, proto::SendFlags{true}));
    if (owner_.metrics != nullptr) count_sent(status, frame->kind, payload.size(), true, before);
    return status;
  }
  if (!shared_) shared_ = std::make_unique<SharedQueue>();
  SharedQueue& queue = *shared_;
  queue.frames.push_back({frame, queue.consumed + connection_->buffered_amount()});
  queue.bytes += frame->bytes.size();
  if (config_->options.frame_observer != nullptr || config_->handlers.frame) {
    // Queued beside the Connection, which never sees it: reported here.
    proto::FrameHeader header;
    proto::decode_frame_header(frame->bytes.data(), frame->header_size, header);
    on_frame(true, header, frame->payload());
  }
  const SendStatus status = sent(proto::SendResult::ok);
  // A frame compressed once for many (topics.cpp) counts its compression there, once.
  if (owner_.metrics != nullptr) {
    owner_.metrics->message_sent(frame->kind, frame->message_size);
  }
  return status;
}

std::uint8_t Session::shared_compression_window(std::size_t size) const noexcept {
  return size >= config_->deflate_tuning.threshold ? stateless_compression_window_ : 0;
}

std::shared_ptr<detail::HandleState> Session::make_handle() {
  if (!handle_state_) {
    handle_state_ = std::make_shared<detail::HandleState>();
    handle_state_->loop = loop().handle();
    handle_state_->connection = this;
  }
  return handle_state_;
}

}  // namespace wsx::session
