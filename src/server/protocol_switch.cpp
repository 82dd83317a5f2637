#include "server/protocol_switch.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

namespace wsx::server {
namespace {

// RFC 9113 §3.4: what a client with prior knowledge sends first. No HTTP/1.1 request starts
// this way ("PRI" is reserved as a method for this reason, §3.4).
constexpr std::string_view client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

}  // namespace

ProtocolSwitch::ProtocolSwitch(io::EventLoop& loop, io::TcpSocket socket,
                               std::optional<io::TlsSession> tls, Owner& owner,
                               const io::SocketAddress& peer, io::Clock::duration handshake_timeout)
    : owner_(owner),
      peer_(peer),
      timeout_([this] { owner_.switch_failed(*this, {}); }),
      stream_(std::make_unique<io::Stream>(
          loop, std::move(socket), static_cast<io::StreamHandler&>(*this), std::move(tls))) {
  if (handshake_timeout.count() > 0) loop.arm(timeout_, handshake_timeout);
}

ProtocolSwitch::~ProtocolSwitch() = default;

void ProtocolSwitch::close() noexcept {
  timeout_.cancel();
  if (stream_) stream_->close();
}

void ProtocolSwitch::on_stream_data(std::span<std::uint8_t> data) {
  if (const io::TlsSession* tls = stream_->tls()) {
    if (tls->alpn() == "h2") {
      choose_h2(data);
    } else {
      choose_http1(data);
    }
    return;
  }
  // Plain TCP: compare with the preface as far as the bytes go; a preface split over reads
  // waits here (the handshake timeout still runs).
  const std::size_t have = early_.size();
  const std::size_t compared = std::min(data.size(), client_preface.size() - have);
  const std::string_view fresh(reinterpret_cast<const char*>(data.data()), compared);
  if (fresh != client_preface.substr(have, compared)) {
    choose_http1(data);
    return;
  }
  if (have + compared < client_preface.size()) {
    early_.append(fresh);
    return;
  }
  if (early_.empty()) {
    choose_h2(data);
    return;
  }
  std::string first = std::move(early_);
  first.append(reinterpret_cast<const char*>(data.data()), data.size());
  choose_h2({reinterpret_cast<std::uint8_t*>(first.data()), first.size()});
}

void ProtocolSwitch::choose_h2(std::span<std::uint8_t> first) {
  timeout_.cancel();
  owner_.chose_h2(*this, std::move(stream_), first);  // destroys this
}

void ProtocolSwitch::choose_http1(std::span<std::uint8_t> data) {
  timeout_.cancel();
  std::string first = std::move(early_);
  first.append(reinterpret_cast<const char*>(data.data()), data.size());
  io::Stream::Released connection = stream_->release();
  first += connection.plaintext;
  connection.plaintext.clear();
  owner_.chose_http1(*this, std::move(connection), std::move(first));  // destroys this
}

void ProtocolSwitch::on_stream_end() {
  owner_.switch_failed(*this, {});
}

void ProtocolSwitch::on_stream_error(std::string_view reason) {
  owner_.switch_failed(*this, reason);
}

}  // namespace wsx::server
