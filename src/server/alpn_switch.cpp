#include "server/alpn_switch.hpp"

#include <utility>

namespace wsx::server {

AlpnSwitch::AlpnSwitch(io::EventLoop& loop, io::TcpSocket socket, io::TlsSession tls, Owner& owner,
                       const io::SocketAddress& peer, io::Clock::duration handshake_timeout)
    : owner_(owner),
      peer_(peer),
      timeout_([this] { owner_.switch_failed(*this, {}); }),
      stream_(std::make_unique<io::Stream>(
          loop, std::move(socket), static_cast<io::StreamHandler&>(*this), std::move(tls))) {
  if (handshake_timeout.count() > 0) loop.arm(timeout_, handshake_timeout);
}

AlpnSwitch::~AlpnSwitch() = default;

void AlpnSwitch::close() noexcept {
  timeout_.cancel();
  if (stream_) stream_->close();
}

void AlpnSwitch::on_stream_data(std::span<std::uint8_t> data) {
  timeout_.cancel();
  const io::TlsSession* tls = stream_->tls();
  if (tls != nullptr && tls->alpn() == "h2") {
    owner_.chose_h2(*this, std::move(stream_), data);  // destroys this
    return;
  }
  std::string first(reinterpret_cast<const char*>(data.data()), data.size());
  io::Stream::Released connection = stream_->release();
  first += connection.plaintext;
  connection.plaintext.clear();
  owner_.chose_http1(*this, std::move(connection), std::move(first));  // destroys this
}

void AlpnSwitch::on_stream_end() {
  owner_.switch_failed(*this, {});
}

void AlpnSwitch::on_stream_error(std::string_view reason) {
  owner_.switch_failed(*this, reason);
}

}  // namespace wsx::server
