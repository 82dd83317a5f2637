// The owner's side of one long-polling session, on the thread that owns it: its byte streams
// (PollState), the requests waiting for an answer, the deadlines, and the moves between the
// streams and the WebSocket session above it (the PollPeer: the session, through its carrier).
// It does what the TCP carrier's io::Stream does for a socket: feeds received bytes while the
// session reads, pulls the session's output while there is room, reports "blocked" and
// "drained", ends gracefully once everything was acknowledged (the next recv learns 410), and
// fails the session (1006) when the client stops polling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/poll_binding.hpp"
#include "server/poll_state.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/tcp_socket.hpp"
#include "wsx/io/timeout_wheel.hpp"

namespace wsx::server {

class PollHub;
struct PollReply;
struct Route;

// The session above a channel; the same calls a carrier makes into a session (carrier.hpp).
class PollPeer {
 public:
  virtual void peer_data(std::span<std::uint8_t> data) = 0;
  virtual std::size_t peer_read_allowance() = 0;
  virtual std::size_t peer_gather(std::span<io::ConstBuffer> out) = 0;
  virtual void peer_consume(std::size_t n) = 0;
  virtual void peer_drained() = 0;
  virtual void peer_end() = 0;
  virtual void peer_error(std::string_view reason) = 0;
  // held_input_bytes() changed outside a call into the session (a body came while it does not
  // read, or the last of one was read): its memory footprint is counted again. May destroy the
  // channel (a session already finished is released).
  virtual void peer_input_changed() = 0;

 protected:
  ~PollPeer() = default;
};

struct PollChannelParams {
  std::string sid;
  const Route* route = nullptr;
  PollBinding binding;
  PollLimits limits;
  std::string remote_address;
};

class PollChannel {
 public:
  // Registers itself in `hub` under its sid; a request for it may come from now on.
  PollChannel(PollHub& hub, PollChannelParams params);
  // Unregisters; requests still waiting get 410.
  ~PollChannel();
  PollChannel(const PollChannel&) = delete;
  PollChannel& operator=(const PollChannel&) = delete;

  // Before any request: the session above. Null: bytes are kept, nothing is pulled.
  void attach(PollPeer* peer) noexcept { peer_ = peer; }

  const std::string& sid() const noexcept { return params_.sid; }
  const Route* route() const noexcept { return params_.route; }
  const PollBinding& binding() const noexcept { return params_.binding; }
  const std::string& remote_address() const noexcept { return params_.remote_address; }
  const PollState& state() const noexcept { return state_; }
  io::EventLoop& loop() noexcept;

  // ---- requests (the hub, on this thread), answered through `reply`, now or later
  void send(std::uint64_t offset, std::string body, std::shared_ptr<PollReply> reply);
  void recv(std::uint64_t ack, std::shared_ptr<PollReply> reply);

  // ---- the carrier's side (the session calls these through its carrier)
  void request_flush();  // output waits: pulled at the end of this loop iteration
  void pause_reading() noexcept { reading_ = false; }
  void resume_reading();
  bool write_blocked() const noexcept { return state_.output_room() == 0; }
  std::size_t unsent_bytes() const noexcept { return state_.unacknowledged(); }
  std::size_t held_input_bytes() const noexcept { return state_.held_input(); }
  bool is_open() const noexcept { return !closed_; }
  bool closing_gracefully() const noexcept { return graceful_; }
  // A recv is held (what the session sends now reaches the client at once), or the session's
  // close is under way already.
  bool reachable() const noexcept { return graceful_ || state_.recv_held(); }
  // The server stops (the session is closing with 1001): a client without a held recv that
  // makes no request within the limits' stop_grace (from now, and between its requests from
  // now on) is taken as gone, as after the route's timeout.
  void server_stopping();
  // The protocol is over: what the session still has goes out, then the end (410), then
  // peer_end(). Input is dropped from now on.
  void close_gracefully();
  // Dropped now: unregistered (later requests get 404), waiting requests get 410, no call to
  // the peer follows.
  void close() noexcept;

 private:
  void deliver(const PollAnswer& answer);
  void keep(PollRequestId id, std::shared_ptr<PollReply> reply);
  void pump();  // feed input, pull output, answer what became due, end when over
  bool feed();  // false when this channel was destroyed meanwhile
  bool pull();  // likewise
  void schedule_pump();
  void on_timer();
  void arm_timer();
  void answer_waiting(int status, std::string_view reason) noexcept;

  PollHub& hub_;
  PollChannelParams params_;
  PollState state_;
  PollPeer* peer_ = nullptr;
  // At most a pending send, a held recv, and a request replaced a moment ago.
  std::vector<std::pair<PollRequestId, std::shared_ptr<PollReply>>> waiting_;
  PollRequestId next_id_ = 1;
  io::Timeout timer_;
  std::shared_ptr<bool> alive_;    // a posted pump holds it weakly
  bool* destroyed_ = nullptr;      // set while the peer is called: it may destroy this channel
  std::size_t charged_input_ = 0;  // held_input() when the peer last heard of it
  bool reading_ = true;
  bool blocked_ = false;       // write_blocked() was seen: drained is due once there is room
  bool acknowledged_ = false;  // a recv acknowledged output: drained is due likewise
  bool graceful_ = false;
  bool ended_ = false;
  bool gone_told_ = false;  // a recv was answered 410
  bool closed_ = false;
  bool pump_posted_ = false;
};

}  // namespace wsx::server
