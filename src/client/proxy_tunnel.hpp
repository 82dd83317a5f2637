// Drives a ProxyNegotiation on a connected socket: writes its requests, reads the proxy's
// replies into a bounded buffer, and gives the socket back once the tunnel is open — before
// any TLS, so a wss:// handshake runs inside the tunnel, end to end with the target.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "proxy_negotiation.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/tcp_socket.hpp"

namespace wsx::client_detail {

class ProxyTunnel final : public io::IoHandler {
 public:
  // Called once, from the loop: the open tunnel's socket, or an error (then the socket is
  // closed). It may destroy the ProxyTunnel.
  using Done = std::function<void(io::TcpSocket socket, std::optional<ClientError> error)>;

  // `proxy_name` is for messages; `timeout` bounds the whole negotiation.
  ProxyTunnel(io::EventLoop& loop, io::TcpSocket socket,
              std::unique_ptr<ProxyNegotiation> negotiation, std::string proxy_name,
              std::chrono::milliseconds timeout, Done done);
  ~ProxyTunnel();
  ProxyTunnel(const ProxyTunnel&) = delete;
  ProxyTunnel& operator=(const ProxyTunnel&) = delete;

  // Registers the socket and sends the first request; `done` never runs from inside start().
  void start();

  void on_readable() override;
  void on_writable() override;

 private:
  void flush();
  void finish(std::optional<ClientError> error);

  io::EventLoop& loop_;
  io::TcpSocket socket_;
  std::unique_ptr<ProxyNegotiation> negotiation_;
  std::string proxy_name_;
  std::chrono::milliseconds timeout_;
  Done done_;
  std::string pending_;  // request bytes not yet written
  io::TimerId timer_ = 0;
  bool registered_ = false;
};

}  // namespace wsx::client_detail
