// What the carrier pulls from a session (its OutputQueue and the Connection's output), the
// reading pause when a peer does not read, the drain callback, and the zero-copy paths over
// carriers that write in place: a large send written at once, or a payload borrowed from the
// bytes being received.
#include <algorithm>
#include <memory>
#include <vector>

#include "session/output_queue.hpp"
#include "session/session.hpp"

namespace wsx::session {

namespace {

// The session receiving on this thread and the bytes it was given: payloads inside them may be
// borrowed by that session's sends until it returns (see settle_borrowed).
struct Receiving {
  const Session* session = nullptr;
  std::span<const std::uint8_t> bytes;
};
thread_local Receiving receiving;

}  // namespace

struct Session::Lending {  // ends even when receive() throws (out of memory)
  Lending(Session* session, std::span<const std::uint8_t> bytes) : session_(session) {
    receiving = {session, bytes};
    session->receiving_ = true;
  }
  ~Lending() {
    receiving = {};
    session_->receiving_ = false;
  }
  Lending(const Lending&) = delete;
  Lending& operator=(const Lending&) = delete;
  Session* session_;
};

void Session::receive_lending(std::span<std::uint8_t> data) {
  {
    Lending lending(this, data);
    receive_frames(data);
  }
  settle_borrowed();
  // After the borrowed frames went (or were copied): an echo the socket took whole leaves
  // nothing queued, so no flush is deferred to find nothing to send (callgrind, scenario b:
  // ~150 instructions per 64 KiB echo).
  after_output();
}

void Session::carrier_data_placed(std::size_t n) {
  Entry entry(*this);
  if (!opened_ || !connection_) return;  // only after carrier_read_destination() gave a place
  note_activity();
  // Nothing is lent: the bytes are the Connection's own message storage, which a large echo
  // takes over instead (write_now). Receiving still, so that sends leave their flush to the
  // after_output() below.
  Lending lending(this, {});
  Events events(*this);
  connection_.receive_direct(n, events);
  after_output();
}

bool Session::borrowable(std::span<const std::uint8_t> data) const noexcept {
  const std::span<const std::uint8_t> input = receiving.bytes;
  return receiving.session == this && carrier().writes_in_place() && !data.empty() &&
         data.data() >= input.data() && data.data() + data.size() <= input.data() + input.size();
}

void Session::settle_borrowed() {
  if (!output_ || !output_->has_borrowed()) return;
  // Everything queued so far leaves in one writev now, while the borrowed payloads are valid.
  if (!transport_closed_) {
    io::ConstBuffer buffers[max_gather_buffers];
    const std::size_t count = carrier_gather(buffers);
    const std::size_t written = carrier().write_now({buffers, count});
    if (written > 0) carrier_consume(written);
  }
  // What the carrier did not take is copied: the received bytes are about to be reused.
  if (output_) output_->copy_borrowed();
}

std::size_t Session::carrier_gather(std::span<io::ConstBuffer> out) {
  const proto::Connection* connection = connection_ ? &connection_ : nullptr;
  if (output_) return output_->gather(connection, out);
  if (connection == nullptr || out.empty()) return 0;
  const std::span<const std::uint8_t> pending = connection->pending_output();
  if (pending.empty()) return 0;
  out[0] = pending;
  return 1;
}

void Session::carrier_consume(std::size_t n) {
  Entry entry(*this);
  proto::Connection* connection = connection_ ? &connection_ : nullptr;
  if (output_) {
    output_->consume(connection, n);
    if (output_->disposable()) output_.reset();  // handshake bytes only: not kept
  } else if (connection != nullptr) {
    connection->consume_output(std::min(n, connection->buffered_amount()));
  }
  if (connection_ && !transport_closed_ && linger_when_over()) return;
  resume_reading_if_caught_up();
  report_drain_if_due();
}

// Reading paused above max_backpressure (after_output) resumes only once the output is back to
// half of it, however the carrier reports progress (bytes consumed, a window or a buffer that
// reopened): resuming on any progress would pause again a few bytes later, toggling the reading
// (and, over HTTP/2, the peer's window) for every few bytes that leave.
void Session::resume_reading_if_caught_up() {
  if (paused_reading_ && buffered_now() <= config_->options.max_backpressure / 2) {
    paused_reading_ = false;
    if (!budget_stopped()) carrier().resume_reading();
  }
}

// The drain callback fires once after a send met backpressure and everything queued has left.
void Session::report_drain_if_due() {
  if (saw_backpressure_ && queued_bytes() == 0 && !close_reported_ && protocol_open()) {
    saw_backpressure_ = false;
    if (config_->handlers.drain) call("drain", config_->handlers.drain);
  }
}

void Session::carrier_drained() {
  Entry entry(*this);
  resume_reading_if_caught_up();
  report_drain_if_due();
}

void Session::after_output() {
  if (transport_closed_) return;
  if (queued_bytes() > 0) carrier().request_flush();
  if (!opened_ || linger_when_over()) return;
  // A peer that sends but does not read (pings, or requests whose answers pile up) must not
  // grow our output without bound: stop reading until it catches up.
  if (!paused_reading_ && buffered_now() > config_->options.max_backpressure) {
    paused_reading_ = true;
    carrier().pause_reading();
  }
}

std::size_t Session::write_now(std::span<const std::uint8_t> header,
                               std::span<const std::uint8_t> payload) {
  if (!borrow_next_) {
    const io::ConstBuffer buffers[] = {header, payload};
    const std::size_t written = carrier().write_now(buffers);
    const std::size_t total = header.size() + payload.size();
    if (written >= total) return written;
    // The socket took part: when the payload is the message being received (assembled from
    // several reads, or inflated), its storage moves to the queue instead of the rest being
    // copied (a 1 MiB echo: ~900 KiB not copied).
    std::vector<std::uint8_t> storage = connection_.take_received_message(payload);
    if (storage.empty()) return written;
    if (!output_) output_ = std::make_unique<OutputQueue>();
    output_->push_owned(header, payload, written, std::move(storage),
                        connection_.buffered_amount());
    return total;
  }
  // Queued by reference; settle_borrowed() sends or copies it before the bytes go.
  if (!output_) output_ = std::make_unique<OutputQueue>();
  output_->push_borrowed(header, payload, connection_.buffered_amount());
  return header.size() + payload.size();
}

}  // namespace wsx::session
