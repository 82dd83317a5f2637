// The session's core: lifetime, the entry points (carrier events, the timeout, posted work) and
// the way in for received bytes. Its other jobs have their own files: session_handshake.cpp
// (before the protocol starts), session_send.cpp (the application's sends), session_output.cpp
// (what the carrier pulls, backpressure, zero-copy), session_close.cpp (closing handshake,
// lingering close, the end), session_budget.cpp (memory budget), dispatch.cpp (events and
// callbacks).
#include "session/session.hpp"

#include <utility>

#include "session/connection_metrics.hpp"
#include "session/handle_state.hpp"
#include "session/output_queue.hpp"
#include "session/session_extras.hpp"
#include "session/topics.hpp"

namespace wsx::session {

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
    : io::TimeoutEntry(&Session::expire),
      config_(&config),
      owner_(owner),
      handshake_(std::move(handshake)) {}

Session::~Session() {
  if (!transport_closed_) count_end();  // destroyed by its owner without finishing (shutdown)
  if (BudgetLedger* ledger = budget_ledger()) ledger->forget(*this);
  if (TopicRegistry* topics = topics_registry()) topics->unsubscribe_all(*this);
  if (extras_ && extras_->handle_state) extras_->handle_state->connection = nullptr;
}

bool Session::start(io::Clock::duration handshake_timeout) {
  if (!carrier().is_open()) return false;
  if (handshake_timeout > io::Clock::duration::zero()) loop().arm(timeout(), handshake_timeout);
  return true;
}

proto::ConnectionState Session::protocol_state() const noexcept {
  return connection_ ? connection_.state() : proto::ConnectionState::open;
}

void Session::carrier_data(std::span<std::uint8_t> data) {
  Entry entry(*this);
  if (!opened_) {
    if (handshake_ && !handshake_ended_) handshake_->on_data(*this, data);
    return;
  }
  note_activity();
  receive_lending(data);
}

void Session::note_activity() {
  if (phase_ == Phase::idle || phase_ == Phase::ping_sent) {
    phase_ = Phase::idle;
    if (config_->options.idle_timeout.count() > 0) {
      loop().arm(timeout(), config_->options.idle_timeout);  // a field write while moving later
    }
  }
}

void Session::receive(std::span<std::uint8_t> data) {
  receive_frames(data);
  after_output();
}

void Session::receive_frames(std::span<std::uint8_t> data) {
  Events events(*this);
  protocol().receive(data, events);
}

std::span<std::uint8_t> Session::carrier_read_destination() {
  // Only once the protocol runs and its Connection exists: a large frame being assembled.
  if (!opened_ || !connection_ || transport_closed_) return {};
  return connection_.direct_receive_buffer();
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
      protocol().ping();
      phase_ = Phase::ping_sent;
      loop().arm(timeout(), config_->options.idle_ping_wait);
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
  if (!opened_) {
    if (handshake_ && !handshake_ended_) handshake_->on_failed(*this, {});
  } else {
    report_close(1006, "connection closed without a closing handshake", false);
  }
  carrier().close();
  finish();
}

void Session::carrier_error(std::string_view reason) {
  Entry entry(*this);
  if (!opened_) {
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

std::shared_ptr<detail::HandleState> Session::make_handle() {
  std::shared_ptr<detail::HandleState>& state = extras().handle_state;
  if (!state) {
    state = std::make_shared<detail::HandleState>();
    state->loop = loop().handle();
    state->connection = this;
  }
  return state;
}

Session::Extras& Session::extras() {
  if (!extras_) extras_ = std::make_unique<Extras>(*this);
  return *extras_;
}

}  // namespace wsx::session
