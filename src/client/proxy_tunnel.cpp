#include "proxy_tunnel.hpp"

#include <array>
#include <cstring>
#include <utility>

namespace wsx::client_detail {
namespace {

// Every proxy reply we accept is far smaller (a SOCKS5 reply is at most 262 bytes, a CONNECT
// reply head is limited by max_response_head): reading in small pieces keeps the buffer small.
constexpr std::size_t read_chunk = 4096;

ClientError failure(ClientErrorKind kind, std::string message) {
  ClientError error;
  error.kind = kind;
  error.message = std::move(message);
  return error;
}

}  // namespace

ProxyTunnel::ProxyTunnel(io::EventLoop& loop, io::TcpSocket socket,
                         std::unique_ptr<ProxyNegotiation> negotiation, std::string proxy_name,
                         std::chrono::milliseconds timeout, Done done)
    : loop_(loop),
      socket_(std::move(socket)),
      negotiation_(std::move(negotiation)),
      proxy_name_(std::move(proxy_name)),
      timeout_(timeout),
      done_(std::move(done)) {}

ProxyTunnel::~ProxyTunnel() {
  if (timer_ != 0) loop_.cancel(timer_);
  if (registered_) loop_.remove(socket_.fd());
}

void ProxyTunnel::start() {
  if (const std::error_code error = loop_.add(socket_.fd(), io::Interest::read, *this)) {
    // Reported from the loop, as every other outcome (the caller is still inside start()), by
    // a timer the destructor cancels.
    timer_ = loop_.run_after(std::chrono::milliseconds(0), [this, message = error.message()] {
      timer_ = 0;
      finish(failure(ClientErrorKind::proxy_failed,
                     "the connection to the proxy " + proxy_name_ +
                         " could not be registered on the loop: " + message));
    });
    return;
  }
  registered_ = true;
  if (timeout_.count() > 0) {
    timer_ = loop_.run_after(timeout_, [this] {
      timer_ = 0;
      finish(failure(ClientErrorKind::proxy_failed, "the proxy " + proxy_name_ +
                                                        " did not open the tunnel within " +
                                                        std::to_string(timeout_.count()) + " ms"));
    });
  }
  pending_ = negotiation_->take_output();
  flush();
}

void ProxyTunnel::flush() {
  while (!pending_.empty()) {
    const io::IoResult result =
        socket_.write({reinterpret_cast<const std::uint8_t*>(pending_.data()), pending_.size()});
    if (result.status == io::IoStatus::would_block) {
      loop_.modify(socket_.fd(), io::Interest::read_write);
      return;
    }
    if (result.status != io::IoStatus::ok) {
      // The read side reports the failure (with the proxy's reply if it sent one first).
      pending_.clear();
      break;
    }
    pending_.erase(0, result.bytes);
  }
  loop_.modify(socket_.fd(), io::Interest::read);
}

void ProxyTunnel::on_writable() {
  flush();
}

void ProxyTunnel::on_readable() {
  std::array<std::uint8_t, read_chunk> buffer;
  const io::IoResult result = socket_.read(buffer);
  if (result.status == io::IoStatus::would_block) return;
  if (result.status == io::IoStatus::closed) {
    finish(negotiation_->closed_early({}));
    return;
  }
  if (result.status == io::IoStatus::error) {
    finish(negotiation_->closed_early(std::strerror(result.error)));
    return;
  }
  switch (negotiation_->feed({reinterpret_cast<const char*>(buffer.data()), result.bytes})) {
    case TunnelStatus::need_more:
      pending_ += negotiation_->take_output();
      flush();
      return;
    case TunnelStatus::failed:
      finish(negotiation_->error());
      return;
    case TunnelStatus::established:
      finish(std::nullopt);
      return;
  }
}

void ProxyTunnel::finish(std::optional<ClientError> error) {
  if (timer_ != 0) loop_.cancel(timer_);
  timer_ = 0;
  if (registered_) loop_.remove(socket_.fd());
  registered_ = false;
  io::TcpSocket socket = std::move(socket_);
  if (error) socket.close();
  Done done = std::move(done_);
  // Last: `done` may destroy this object.
  if (done) done(std::move(socket), std::move(error));
}

}  // namespace wsx::client_detail
