#include "h2/h2_stream_carrier.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace wsx::h2 {

H2StreamCarrier::H2StreamCarrier(session::Session& session, H2StreamHost& connection,
                                 std::int32_t stream_id)
    : session_(session), connection_(connection), stream_id_(stream_id) {}

H2StreamCarrier::~H2StreamCarrier() {
  if (life_) *life_ = nullptr;
  if (attached_) connection_.carrier_gone(stream_id_);
}

io::EventLoop& H2StreamCarrier::loop() noexcept {
  return connection_.loop();
}

const io::TlsSession* H2StreamCarrier::tls() const noexcept {
  return connection_.tls();
}

std::string H2StreamCarrier::remote_address() const {
  // The connection's peer, also once this stream has closed: the close callback of a stream
  // reset by the peer (or of a connection that died) still names who it was. Empty only once
  // detached from a connection that is gone.
  return attached_ ? connection_.remote_address() : std::string();
}

void H2StreamCarrier::request_flush() {
  if (open_) connection_.resume(stream_id_);
}

void H2StreamCarrier::resume_reading() {
  paused_ = false;
  if (connection_.producing_output()) {
    // Called from read(), in nghttp2's data-read callback: the output that left ended the
    // pause. The held DATA would run the application's callbacks there, which may send, close
    // or terminate (destroying this carrier) while nghttp2 packs a DATA frame of this stream:
    // the loop hands it over once nghttp2 has returned.
    deliver_held_later();
    return;
  }
  deliver_held();
}

void H2StreamCarrier::deliver_held_later() {
  if (held_.empty() || !open_ || delivery_posted_) return;
  delivery_posted_ = true;
  if (!life_) life_ = std::make_shared<H2StreamCarrier*>(this);
  loop().post([life = life_] {
    H2StreamCarrier* carrier = *life;
    if (carrier == nullptr) return;  // destroyed meanwhile: nothing to hand over
    carrier->delivery_posted_ = false;
    carrier->deliver_held();
  });
}

void H2StreamCarrier::deliver_held(bool even_if_paused) {
  // Paused again, dropped or over meanwhile: nothing to hand over.
  if ((paused_ && !even_if_paused) || held_.empty() || !open_) return;
  std::vector<std::uint8_t> bytes = std::move(held_);
  held_.clear();
  H2StreamHost& connection = connection_;
  const std::int32_t id = stream_id_;
  if (!life_) life_ = std::make_shared<H2StreamCarrier*>(this);
  const std::shared_ptr<H2StreamCarrier*> life = life_;
  session_.carrier_data(bytes);               // may end the session, and this carrier with it
  connection.consume_held(id, bytes.size());  // the connection's window reopened at hold()
  H2StreamCarrier* carrier = *life;
  if (carrier == nullptr || !carrier->end_after_held_) return;
  // The peer's END_STREAM came behind these bytes: it is the end now that they were read.
  carrier->end_after_held_ = false;
  if (carrier->open_ && !carrier->ending_) carrier->session_.carrier_end();
}

void H2StreamCarrier::received(std::span<const std::uint8_t> data) {
  if (!open_) return;
  if (ending_) {
    // Our side is over: what the peer still sends is dropped, up to the bound.
    connection_.consume(stream_id_, data.size());
    if (data.size() > discard_left_) {
      close();
      session_.carrier_error("the peer kept sending after the close");
      return;
    }
    discard_left_ -= data.size();
    return;
  }
  // As a socket asks before each read: at the memory ceiling the budget stops the session
  // (pause_reading) and the bytes wait here instead of being assembled.
  if (!paused_ && held_.empty()) (void)session_.carrier_read_allowance();
  if (paused_ || !held_.empty()) {
    held_.insert(held_.end(), data.begin(), data.end());  // at most a window (the peer waits)
    // Bounded by the stream's window, the bytes need not hold the connection's: the peer's
    // other streams go on while this one waits.
    connection_.hold(data.size());
    // An entry point of the session, so that leaving it charges what is held now to the
    // memory budget, which may stop the session or close it (1013) as for any heavy one.
    session_.run([](WebSocket&) {});  // may end the session, and this carrier with it
    return;
  }
  // The session unmasks in place: nghttp2's bytes are const, so they are copied once.
  thread_local std::vector<std::uint8_t> scratch;
  scratch.assign(data.begin(), data.end());
  H2StreamHost& connection = connection_;
  const std::int32_t id = stream_id_;
  session_.carrier_data(scratch);  // may end the session, and this carrier with it
  connection.consume(id, data.size());
}

void H2StreamCarrier::remote_ended() {
  if (!open_ || ending_) return;  // ending: the stream closes next (stream_closed)
  if (!held_.empty()) {
    // DATA before the END_STREAM still waits for the session (paused, or its delivery posted
    // from nghttp2's data-read callback): ended now, the session would report 1006 and drop the
    // peer's last messages and its close frame. The end follows them (deliver_held()). And they
    // go to the session now, paused or not: the pause makes the peer wait before it sends more,
    // and after END_STREAM it sends nothing, so waiting protects nothing and only delays the end
    // (until the peer reads, or the session's idle timeouts: minutes). Without a close frame
    // among them the stream is an abnormal closure (RFC 6455 §7.1.5: 1006) right after them;
    // with one, the closing handshake runs as usual, bounded by the close timeout.
    end_after_held_ = true;
    deliver_held(true);
    return;
  }
  session_.carrier_end();
}

void H2StreamCarrier::stream_closed(std::uint32_t error) {
  if (!open_) return;
  open_ = false;
  if (ending_ && error == 0) {
    session_.carrier_end();  // END_STREAM both ways: the lingering close is over
    return;
  }
  session_.carrier_error(error == 0 ? std::string_view("HTTP/2 stream closed")
                                    : std::string_view("HTTP/2 stream reset (RST_STREAM)"));
}

void H2StreamCarrier::window_grew() {
  if (!open_ || !blocked_ || connection_.send_window(stream_id_) <= 0) return;
  blocked_ = false;
  connection_.resume(stream_id_);
  session_.carrier_drained();
}

void H2StreamCarrier::close_gracefully(std::size_t discard_limit, bool) {
  if (!open_ || ending_) return;
  ending_ = true;
  discard_left_ = discard_limit;
  connection_.consume_held(stream_id_, held_.size());  // dropped: its window reopens
  held_.clear();
  end_after_held_ = false;         // the stream closes once our END_STREAM is out (stream_closed)
  connection_.resume(stream_id_);  // read() ends the stream once the output is out
}

void H2StreamCarrier::close() noexcept {
  if (!open_) return;
  open_ = false;
  connection_.reset_stream(stream_id_);
}

H2Source::Chunk H2StreamCarrier::read(std::span<std::uint8_t> buffer) {
  if (!open_) return {0, true};
  io::ConstBuffer buffers[session::max_gather_buffers];
  const std::size_t count = session_.carrier_gather(buffers);
  std::size_t copied = 0;
  for (std::size_t i = 0; i < count && copied < buffer.size(); ++i) {
    const std::size_t n = std::min(buffers[i].size(), buffer.size() - copied);
    std::memcpy(buffer.data() + copied, buffers[i].data(), n);
    copied += n;
  }
  if (copied > 0) {
    // The peer's window is what nghttp2 offered: when this fills it, later output waits.
    if (copied == buffer.size() &&
        connection_.send_window(stream_id_) <= static_cast<std::int32_t>(copied)) {
      blocked_ = true;
    }
    // Last: the session may end here (an application's drain callback that terminates), and
    // this carrier with it.
    session_.carrier_consume(copied);
    return {copied, false};
  }
  return {0, ending_};
}

}  // namespace wsx::h2
