// The HTTP/2 stream carrier (RFC 8441): a WebSocket session's bytes as the DATA of one stream of
// an HTTP/2 connection — the server's (H2ServerConnection) or the client's (its connection
// pool), each an H2StreamHost. See session/carrier.hpp for the contract.
//
// In: the stream's DATA goes to Session::carrier_data(); its window reopens (consume) only once
// the session took the bytes, so while the session pauses reading the peer can send one window
// more, kept here (counted in the session's memory footprint), and then waits. The connection's
// window reopens as soon as bytes are kept here (H2StreamHost::hold): paused streams hold at
// most their own windows and do not take the connection's from their neighbours. Out: the session's
// output is pulled by nghttp2 (H2Source) as the peer's window allows; an exhausted window is
// write_blocked(), and the WINDOW_UPDATE that reopens it calls carrier_drained(). Ending:
// close_gracefully() sends END_STREAM after the output and drops the peer's DATA (bounded) until
// its END_STREAM; close() is RST_STREAM(CANCEL); a reset by the peer or the connection dying is
// carrier_error() (1006), the peer's END_STREAM first is carrier_end() (1006 as well when the
// protocol was open).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "h2/h2_connection.hpp"
#include "session/carrier.hpp"
#include "session/layer_export.hpp"
#include "session/session.hpp"

namespace wsx::h2 {

// The HTTP/2 connection a stream carrier runs on.
class WSX_LAYER_API H2StreamHost {
 public:
  virtual io::EventLoop& loop() noexcept = 0;
  virtual const io::TlsSession* tls() const noexcept = 0;
  virtual const std::string& remote_address() const noexcept = 0;
  virtual void resume(std::int32_t stream_id) = 0;  // output waits on the stream: send it
  virtual void consume(std::int32_t stream_id, std::size_t n) = 0;  // n bytes of DATA processed
  // n bytes of DATA were taken into the carrier's held buffer: the connection's window reopens
  // now (what a stream holds is bounded by its own window), the stream's only by
  // consume_held() once the session took (or dropped) them.
  virtual void hold(std::size_t n) = 0;
  virtual void consume_held(std::int32_t stream_id, std::size_t n) = 0;
  virtual std::int32_t send_window(std::int32_t stream_id) const = 0;
  virtual void reset_stream(std::int32_t stream_id) = 0;  // RST_STREAM(CANCEL)
  // nghttp2 is packing frames (the carrier's read() runs in its data-read callback): what
  // would run the application's callbacks waits for the loop (see resume_reading()).
  virtual bool producing_output() const noexcept { return false; }
  // The carrier of `stream_id` is being destroyed while still attached (see detach()).
  virtual void carrier_gone(std::int32_t stream_id) noexcept { (void)stream_id; }

 protected:
  ~H2StreamHost() = default;
};

class WSX_LAYER_API H2StreamCarrier final : public session::Carrier, public H2Source {
 public:
  // `stream_id` may be 0 when the stream opens after the session exists (a client's request
  // needs the carrier as its body's source): assign_stream() gives it then.
  H2StreamCarrier(session::Session& session, H2StreamHost& connection, std::int32_t stream_id);
  ~H2StreamCarrier();
  void assign_stream(std::int32_t stream_id) noexcept { stream_id_ = stream_id; }

  Transport transport() const noexcept override { return Transport::http2; }
  io::EventLoop& loop() noexcept override;
  bool is_open() const noexcept override { return open_; }
  const io::TlsSession* tls() const noexcept override;
  std::string remote_address() const override;

  void request_flush() override;
  bool writes_in_place() const noexcept override { return false; }
  std::size_t write_now(std::span<const io::ConstBuffer>) noexcept override { return 0; }
  bool write_blocked() const noexcept override { return blocked_; }
  std::size_t unsent_bytes() const noexcept override { return 0; }
  // DATA that came while the session did not read: memory the server holds for this peer, as
  // a message being assembled is, so it counts in the memory budget (ServerOptions::
  // max_buffered_bytes). At most the stream's window (H2Limits::stream_window, 256 KiB): the
  // window reopens only as the session takes the bytes, and nghttp2 fails a stream whose peer
  // sends past it (FLOW_CONTROL_ERROR).
  std::size_t held_input_bytes() const noexcept override { return held_.size(); }

  void pause_reading() override { paused_ = true; }
  void resume_reading() override;

  void close_gracefully(std::size_t discard_limit, bool send_fin) override;
  bool consumed_is_delivered() const noexcept override { return false; }
  void close() noexcept override;

  // ---- from the connection (this stream's events)
  void received(std::span<const std::uint8_t> data);
  void remote_ended();
  void stream_closed(std::uint32_t error);
  void window_grew();  // a WINDOW_UPDATE or SETTINGS came: the send window may be open again
  std::int32_t stream_id() const noexcept { return stream_id_; }
  // The connection is gone (closed, or its owner destroys it): no call to it follows.
  void detach() noexcept {
    open_ = false;
    attached_ = false;
  }

  // H2Source: nghttp2 pulls the session's output.
  Chunk read(std::span<std::uint8_t> buffer) override;

 private:
  session::Session& session_;
  H2StreamHost& connection_;
  std::int32_t stream_id_;
  std::vector<std::uint8_t> held_;  // DATA that came while reading was paused
  std::size_t discard_left_ = 0;
  bool open_ = true;
  bool attached_ = true;  // the host hears of our destruction (carrier_gone)
  bool paused_ = false;
  bool blocked_ = false;          // output waits for the peer's window
  bool ending_ = false;           // close_gracefully(): END_STREAM once the output is out
  bool delivery_posted_ = false;  // the held DATA goes to the session from a posted task
  bool end_after_held_ = false;   // the peer's END_STREAM came while DATA was held: it follows it
  // Points at this carrier until it is destroyed: what a posted task checks (made on first use).
  std::shared_ptr<H2StreamCarrier*> life_;

  // The held DATA to the session (not while it pauses, unless `even_if_paused`: the peer's
  // END_STREAM came, nothing more can be held), then the peer's end if it came behind them.
  void deliver_held(bool even_if_paused = false);
  void deliver_held_later();
};

}  // namespace wsx::h2
