#include "server/poll_carrier.hpp"

#include <utility>

namespace wsx::server {

PollCarrier::PollCarrier(session::Session& session, PollHub& hub, PollChannelParams params)
    : session_(session), channel_(hub, std::move(params)) {
  channel_.attach(this);
}

void PollCarrier::peer_data(std::span<std::uint8_t> data) {
  session_.carrier_data(data);
}

std::size_t PollCarrier::peer_read_allowance() {
  return session_.carrier_read_allowance();
}

std::size_t PollCarrier::peer_gather(std::span<io::ConstBuffer> out) {
  return session_.carrier_gather(out);
}

void PollCarrier::peer_consume(std::size_t n) {
  session_.carrier_consume(n);
}

void PollCarrier::peer_drained() {
  session_.carrier_drained();
}

void PollCarrier::peer_end() {
  session_.carrier_end();
}

void PollCarrier::peer_input_changed() {
  // An entry point of the session: leaving it charges the session's footprint to the memory
  // budget (and stops or resumes its reading as the budget says).
  session_.run([](WebSocket&) {});
}

void PollCarrier::peer_error(std::string_view reason) {
  session_.carrier_error(reason);
}

}  // namespace wsx::server
