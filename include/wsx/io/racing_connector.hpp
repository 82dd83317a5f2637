// Connection racing for a host with several addresses (Happy Eyeballs, RFC 8305 §4–§5): the
// attempts start one after another, a "connection attempt delay" apart, and earlier attempts
// keep running, so an address that silently drops SYNs (a blackholed IPv6 route, a dead host)
// costs one delay instead of the whole connect timeout. The first attempt to connect wins and
// every other one is closed at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <system_error>
#include <vector>

#include "wsx/export.hpp"
#include "wsx/io/connector.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/io/tcp_socket.hpp"

namespace wsx::io {

// RFC 8305 §4: the first address keeps its place (the resolver's preferred family first),
// then the families alternate; within a family the resolver's order is kept.
WSX_API std::vector<SocketAddress> interleave_families(const std::vector<SocketAddress>& addresses);

struct WSX_API RaceOptions {
  // Started this long after the previous attempt when that one has neither connected nor
  // failed (RFC 8305 §5 recommends 250 ms). Zero: strictly one attempt at a time.
  Clock::duration attempt_delay = std::chrono::milliseconds(250);
  // Bounds the whole race, every attempt included; zero waits for the kernel.
  Clock::duration timeout = std::chrono::seconds(30);
  bool no_delay = true;  // TCP_NODELAY on the winning socket
};

struct WSX_API RaceFailure {
  SocketAddress address;
  std::error_code error;
};

struct WSX_API RaceResult {
  TcpSocket socket;       // the winner's connected socket; invalid when the race was lost
  SocketAddress address;  // the winner, or on failure the address whose error is reported
  // None on success; timed_out when the race's timeout ended it; otherwise the last failure
  // (invalid_argument for an empty address list).
  std::error_code error;
  std::vector<SocketAddress> tried;   // every attempt started, in order
  std::vector<RaceFailure> failures;  // every attempt that failed, in the order they failed
  bool ok() const noexcept { return !error && socket.valid(); }
};

class WSX_API RacingConnector {
 public:
  // Exactly once per connect() unless cancelled; always on the loop thread, never from inside
  // connect(). The callback may destroy the RacingConnector or start another race.
  using Callback = std::function<void(RaceResult result)>;

  explicit RacingConnector(EventLoop& loop) : loop_(loop) {}
  ~RacingConnector();  // cancels
  RacingConnector(const RacingConnector&) = delete;
  RacingConnector& operator=(const RacingConnector&) = delete;

  // Races `addresses` in the order given (see interleave_families), cancelling any race in
  // progress. Each address carries its own port. Loop thread.
  void connect(std::vector<SocketAddress> addresses, Callback callback,
               const RaceOptions& options = {});
  // Closes every attempt; no callback follows.
  void cancel() noexcept;
  bool in_progress() const noexcept { return callback_ != nullptr; }
  // Attempts started and not yet finished.
  std::size_t attempts_running() const noexcept;

 private:
  struct Attempt {
    SocketAddress address;
    std::unique_ptr<Connector> connector;  // null once the attempt has failed
  };

  void start_next_attempt();
  void on_attempt_done(std::size_t index, TcpSocket socket, std::error_code error);
  void finish(TcpSocket socket, SocketAddress address, std::error_code error);
  void stop_attempts() noexcept;
  void cancel_timers() noexcept;

  EventLoop& loop_;
  Callback callback_;
  RaceOptions options_;
  std::vector<SocketAddress> addresses_;
  std::vector<Attempt> attempts_;  // in start order, one per address started
  std::vector<RaceFailure> failures_;
  TimerId delay_timer_ = 0;     // starts the next attempt
  TimerId deadline_timer_ = 0;  // ends the race, or reports an empty address list
};

}  // namespace wsx::io
