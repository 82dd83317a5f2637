// The first owner of a TLS connection on a server that offers h2 (ServerOptions::http2): it
// runs the TLS handshake and, with the first bytes, hands the connection to the protocol ALPN
// chose — an H2ServerConnection takes the stream over (h2), an HTTP/1.1 session gets the socket,
// the TLS session and the bytes already read (http/1.1 or no ALPN). Loop thread only.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/io/stream.hpp"
#include "wsx/io/timeout_wheel.hpp"

namespace wsx::server {

class AlpnSwitch final : private io::StreamHandler {
 public:
  class Owner {
   public:
    // `first`: the first plaintext, valid during the call. Each call ends the switch: the
    // owner destroys it (it may do so inside the call).
    virtual void chose_h2(AlpnSwitch& from, std::unique_ptr<io::Stream> stream,
                          std::span<std::uint8_t> first) = 0;
    virtual void chose_http1(AlpnSwitch& from, io::Stream::Released connection,
                             std::string first) = 0;
    // The TLS handshake failed (`reason`), timed out or the client left (empty reason).
    virtual void switch_failed(AlpnSwitch& from, std::string_view reason) = 0;

   protected:
    ~Owner() = default;
  };

  AlpnSwitch(io::EventLoop& loop, io::TcpSocket socket, io::TlsSession tls, Owner& owner,
             const io::SocketAddress& peer, io::Clock::duration handshake_timeout);
  ~AlpnSwitch();
  AlpnSwitch(const AlpnSwitch&) = delete;
  AlpnSwitch& operator=(const AlpnSwitch&) = delete;

  bool is_open() const noexcept { return stream_ && stream_->is_open(); }
  const io::SocketAddress& peer() const noexcept { return peer_; }
  // The stream while the switch owns it (for the TLS error of a failed handshake).
  const io::Stream* stream() const noexcept { return stream_.get(); }
  // Drops the connection now (server shutdown); nothing follows.
  void close() noexcept;

  // Intrusive links for the owner's list.
  AlpnSwitch* owner_prev = nullptr;
  AlpnSwitch* owner_next = nullptr;

 private:
  void on_stream_data(std::span<std::uint8_t> data) override;
  std::size_t gather_output(std::span<io::ConstBuffer>) override { return 0; }
  void consume_output(std::size_t) override {}
  void on_stream_end() override;
  void on_stream_error(std::string_view reason) override;

  Owner& owner_;
  io::SocketAddress peer_;
  io::Timeout timeout_;
  std::unique_ptr<io::Stream> stream_;
};

}  // namespace wsx::server
