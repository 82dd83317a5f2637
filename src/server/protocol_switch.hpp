// The first owner of a connection that may speak HTTP/2: it hands the connection to the protocol
// the client chose — an H2ServerConnection takes the stream over (h2), an HTTP/1.1 session gets
// the socket, the TLS session and the bytes already read. Loop thread only.
//   - TLS (ServerOptions::http2): the TLS handshake runs here; ALPN h2 chooses HTTP/2, http/1.1
//     or no ALPN HTTP/1.1.
//   - Plain TCP (ServerOptions::http2_prior_knowledge, h2c): a connection whose first bytes are
//     HTTP/2's client preface (RFC 9113 §3.4) is HTTP/2; any other byte makes it HTTP/1.1.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "server/request_gate.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/io/stream.hpp"
#include "wsx/io/timeout_wheel.hpp"

namespace wsx::server {

class ProtocolSwitch final : private io::StreamHandler {
 public:
  class Owner {
   public:
    // `first`: the first plaintext, valid during the call. Each call ends the switch: the
    // owner destroys it (it may do so inside the call).
    virtual void chose_h2(ProtocolSwitch& from, std::unique_ptr<io::Stream> stream,
                          std::span<std::uint8_t> first) = 0;
    virtual void chose_http1(ProtocolSwitch& from, io::Stream::Released connection,
                             std::string first) = 0;
    // The TLS handshake failed (`reason`), timed out, or the client left or sent nothing in
    // time (empty reason).
    virtual void switch_failed(ProtocolSwitch& from, std::string_view reason) = 0;

   protected:
    ~Owner() = default;
  };

  // `tls`: ALPN decides; none: the client preface does.
  ProtocolSwitch(io::EventLoop& loop, io::TcpSocket socket, std::optional<io::TlsSession> tls,
                 Owner& owner, const io::SocketAddress& peer,
                 io::Clock::duration handshake_timeout);
  ~ProtocolSwitch();
  ProtocolSwitch(const ProtocolSwitch&) = delete;
  ProtocolSwitch& operator=(const ProtocolSwitch&) = delete;

  bool is_open() const noexcept { return stream_ && stream_->is_open(); }
  const io::SocketAddress& peer() const noexcept { return peer_; }
  // The stream while the switch owns it (for the TLS error of a failed handshake).
  const io::Stream* stream() const noexcept { return stream_.get(); }
  // The socket holds the client's first bytes already (io::Stream::read_now): the switch may
  // end, and be destroyed, inside.
  void read_now() { stream_->read_now(); }
  // Drops the connection now (server shutdown); nothing follows.
  void close() noexcept;

  // Set by the owner when the connection is refused at accept: whichever protocol the client
  // chooses answers its first request with this (then closes), not an HTTP/1.1 status line on
  // an HTTP/2 connection.
  std::optional<AcceptRefusal> refusal;

  // Intrusive links for the owner's list.
  ProtocolSwitch* owner_prev = nullptr;
  ProtocolSwitch* owner_next = nullptr;

 private:
  void on_stream_data(std::span<std::uint8_t> data) override;
  std::size_t gather_output(std::span<io::ConstBuffer>) override { return 0; }
  void consume_output(std::size_t) override {}
  void on_stream_end() override;
  void on_stream_error(std::string_view reason) override;
  void choose_h2(std::span<std::uint8_t> first);
  void choose_http1(std::span<std::uint8_t> first);

  Owner& owner_;
  io::SocketAddress peer_;
  io::Timeout timeout_;
  std::unique_ptr<io::Stream> stream_;
  std::string early_;  // plain TCP: the start of what may be the client preface
};

}  // namespace wsx::server
