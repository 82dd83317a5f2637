#include "wsx/io/racing_connector.hpp"

#include <utility>

namespace wsx::io {

std::vector<SocketAddress> interleave_families(const std::vector<SocketAddress>& addresses) {
  if (addresses.empty()) return {};
  const AddressFamily first = addresses.front().family();
  std::vector<SocketAddress> preferred;
  std::vector<SocketAddress> others;
  for (const SocketAddress& address : addresses) {
    (address.family() == first ? preferred : others).push_back(address);
  }
  std::vector<SocketAddress> ordered;
  ordered.reserve(addresses.size());
  for (std::size_t i = 0; i < preferred.size() || i < others.size(); ++i) {
    if (i < preferred.size()) ordered.push_back(preferred[i]);
    if (i < others.size()) ordered.push_back(others[i]);
  }
  return ordered;
}

RacingConnector::~RacingConnector() {
  cancel();
}

void RacingConnector::cancel() noexcept {
  cancel_timers();
  stop_attempts();
  callback_ = nullptr;
}

std::size_t RacingConnector::attempts_running() const noexcept {
  std::size_t running = 0;
  for (const Attempt& attempt : attempts_) {
    if (attempt.connector) ++running;
  }
  return running;
}

void RacingConnector::connect(std::vector<SocketAddress> addresses, Callback callback,
                              const RaceOptions& options) {
  cancel();
  callback_ = std::move(callback);
  options_ = options;
  addresses_ = std::move(addresses);
  attempts_.clear();
  failures_.clear();
  if (addresses_.empty()) {
    // Reported from the loop, like every other outcome: never from inside connect().
    deadline_timer_ = loop_.run_after(Clock::duration::zero(), [this] {
      deadline_timer_ = 0;
      finish({}, {}, std::make_error_code(std::errc::invalid_argument));
    });
    return;
  }
  attempts_.reserve(addresses_.size());
  if (options_.timeout > Clock::duration::zero()) {
    deadline_timer_ = loop_.run_after(options_.timeout, [this] {
      deadline_timer_ = 0;
      // The attempt waited on longest is the one reported.
      SocketAddress waited_on;
      for (const Attempt& attempt : attempts_) {
        if (attempt.connector) {
          waited_on = attempt.address;
          break;
        }
      }
      finish({}, waited_on, std::make_error_code(std::errc::timed_out));
    });
  }
  start_next_attempt();
}

void RacingConnector::start_next_attempt() {
  if (delay_timer_ != 0) loop_.cancel(delay_timer_);
  delay_timer_ = 0;
  const std::size_t index = attempts_.size();
  if (index >= addresses_.size()) return;
  attempts_.push_back({addresses_[index], std::make_unique<Connector>(loop_)});
  ConnectOptions connect_options;
  connect_options.no_delay = options_.no_delay;
  connect_options.timeout = Clock::duration::zero();  // the race's deadline bounds every attempt
  attempts_.back().connector->connect(
      addresses_[index],
      [this, index](TcpSocket socket, std::error_code error) {
        on_attempt_done(index, std::move(socket), error);
      },
      connect_options);
  if (options_.attempt_delay > Clock::duration::zero() && index + 1 < addresses_.size()) {
    delay_timer_ = loop_.run_after(options_.attempt_delay, [this] {
      delay_timer_ = 0;
      start_next_attempt();
    });
  }
}

void RacingConnector::on_attempt_done(std::size_t index, TcpSocket socket, std::error_code error) {
  const SocketAddress address = attempts_[index].address;
  if (!error) {
    finish(std::move(socket), address, {});
    return;
  }
  // The Connector calls back as its last act, so it may be destroyed here.
  attempts_[index].connector.reset();
  failures_.push_back({address, error});
  // A failure frees its slot at once (RFC 8305 §5): no reason to wait out the delay.
  if (attempts_.size() < addresses_.size()) {
    start_next_attempt();
  } else if (attempts_running() == 0) {
    finish({}, address, error);
  }
}

void RacingConnector::finish(TcpSocket socket, SocketAddress address, std::error_code error) {
  cancel_timers();
  stop_attempts();  // the losers' sockets close here
  RaceResult result;
  result.socket = std::move(socket);
  result.address = std::move(address);
  result.error = error;
  result.tried.reserve(attempts_.size());
  for (const Attempt& attempt : attempts_) result.tried.push_back(attempt.address);
  result.failures = std::move(failures_);
  failures_.clear();
  attempts_.clear();
  addresses_.clear();
  // Taken out first: the callback may start another race or destroy this RacingConnector.
  Callback callback = std::move(callback_);
  callback_ = nullptr;
  if (callback) callback(std::move(result));
}

void RacingConnector::stop_attempts() noexcept {
  for (Attempt& attempt : attempts_) attempt.connector.reset();
}

void RacingConnector::cancel_timers() noexcept {
  if (delay_timer_ != 0) loop_.cancel(delay_timer_);
  delay_timer_ = 0;
  if (deadline_timer_ != 0) loop_.cancel(deadline_timer_);
  deadline_timer_ = 0;
}

}  // namespace wsx::io
