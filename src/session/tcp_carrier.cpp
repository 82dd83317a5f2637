#include "session/tcp_carrier.hpp"

#include <cassert>
#include <cstddef>
#include <new>
#include <utility>

#include "session/session.hpp"

namespace wsx::session {

// What an idle plain connection holds besides its descriptor's slot in the loop: this one
// block (of the server worker's BlockPool: no malloc header; issue 13, scenario e). The protocol
// Connection, the handshake, TLS and what few sessions use come later, or never, behind pointers.
static_assert(sizeof(TcpSession) <= 200, "a member or base added to Session or TcpCarrier");

TcpCarrier::TcpCarrier([[maybe_unused]] Session& session, io::EventLoop& loop, io::TcpSocket socket,
                       std::optional<io::TlsSession> tls)
    : stream_(loop, std::move(socket), *this, std::move(tls)) {
  assert(&this->session() == &session);  // constructed as TcpSession's carrier, nowhere else
}

Session& TcpCarrier::session() noexcept {
  auto* self = reinterpret_cast<std::byte*>(this);
  return *std::launder(reinterpret_cast<TcpSession*>(self - TcpSession::carrier_offset()));
}

std::string TcpCarrier::remote_address() const {
  // Also in the close callback of a connection the peer reset (see io::Stream::peer_address).
  const io::SocketAddress address = stream_.peer_address();
  return address.empty() ? std::string() : address.to_string();
}

void TcpCarrier::on_stream_data(std::span<std::uint8_t> data) {
  session().carrier_data(data);
}

std::span<std::uint8_t> TcpCarrier::read_destination() {
  return session().carrier_read_destination();
}

void TcpCarrier::on_stream_data_placed(std::size_t n) {
  session().carrier_data_placed(n);
}

std::size_t TcpCarrier::read_allowance() {
  return session().carrier_read_allowance();
}

std::size_t TcpCarrier::gather_output(std::span<io::ConstBuffer> out) {
  return session().carrier_gather(out);
}

void TcpCarrier::consume_output(std::size_t n) {
  session().carrier_consume(n);
}

void TcpCarrier::on_stream_drained() {
  session().carrier_drained();
}

void TcpCarrier::on_stream_end() {
  session().carrier_end();
}

void TcpCarrier::on_stream_error(std::string_view reason) {
  session().carrier_error(reason);
}

}  // namespace wsx::session
