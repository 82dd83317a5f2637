// Every server thread has a PollHub: the long-polling sessions it owns, by sid. A request of a
// session may arrive on any thread (browsers open several TCP connections, SO_REUSEPORT spreads
// them); the sid names the owning thread (poll_session_id.hpp), so the request is posted there
// and its answer posted back to the connection that waits for it. Each table is touched by its
// own thread only: no lock, no shared map.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/address_limiter.hpp"
#include "server/poll_channel.hpp"
#include "server/poll_request.hpp"
#include "session/session.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx::session {
class Session;
}

namespace wsx::server {

struct Route;

// The answer to one send or recv, as it travels back to the connection's thread.
struct PollOutcome {
  int status = 200;
  std::string_view content_type;  // static text; empty: none
  std::optional<std::uint64_t> offset;
  std::string body;
  std::string_view reason;  // static text, for the access log
};

// The way back to the connection waiting for an answer. Shared by that connection and the
// session's thread; `answer` is called and cleared on `loop`'s thread only (the answer is
// posted there).
struct PollReply {
  io::LoopHandle loop;
  std::function<void(PollOutcome)> answer;  // empty once the connection stopped waiting

  // Any thread: posts `outcome` to the connection (dropped if it no longer waits).
  static void deliver(const std::shared_ptr<PollReply>& reply, PollOutcome outcome);
};

// A send or recv on its way to the session's thread: everything it needs, owned.
struct PollCall {
  PollKind kind = PollKind::recv;
  std::uint64_t position = 0;
  std::string sid;
  std::optional<std::string> origin;
  std::optional<std::string> csrf;
  std::string body;
  const Route* route = nullptr;
  std::shared_ptr<PollReply> reply;
};

// A session to open on the hub's thread: its channel, the protocol's start, the address slot
// it holds for as long as it lives.
struct PollOpen {
  PollChannelParams channel;
  session::OpenParams params;
  AddressSlot slot;
};

class PollHub {
 public:
  // Loop thread: creates the session of `open` (the worker's: its sessions, its metrics, its
  // budget), runs the open callback. False when it could not.
  std::function<bool(PollOpen&)> opener;

  PollHub(io::EventLoop& loop, std::uint16_t index) noexcept : loop_(loop), index_(index) {}
  PollHub(const PollHub&) = delete;
  PollHub& operator=(const PollHub&) = delete;

  io::EventLoop& loop() noexcept { return loop_; }
  std::uint16_t index() const noexcept { return index_; }

  // Loop thread: the session's checks (it exists, on this route, from its Origin with its
  // token), then the channel takes the request.
  void handle(PollCall call);

  // Loop thread: the channels register themselves.
  void add(PollChannel& channel);
  void remove(PollChannel& channel) noexcept;
  PollChannel* find(std::string_view sid) const noexcept;
  std::size_t size() const noexcept { return channels_.size(); }

 private:
  io::EventLoop& loop_;
  std::uint16_t index_;
  // Keys view the channels' own sid strings.
  std::unordered_map<std::string_view, PollChannel*> channels_;
};

// Any server thread: sends `call` to the thread that owns its session (`hubs` by index), or
// answers 404 when the sid names none.
void dispatch_poll_call(std::span<PollHub* const> hubs, PollHub& here, PollCall call);

// The answer for a refusal: JSON {"error": reason}.
PollOutcome poll_refusal(int status, std::string_view reason);

}  // namespace wsx::server
