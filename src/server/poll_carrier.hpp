// The long-polling carrier (session/carrier.hpp): a WebSocket session whose bytes travel over
// HTTP requests instead of a socket (docs/long-polling-protocol.md). It owns the session's
// PollChannel — the byte streams, the requests waiting, the deadlines — and forwards between
// the channel and the session; the session does the protocol exactly as over TCP.
#pragma once

#include <string>

#include "server/poll_channel.hpp"
#include "session/carrier.hpp"
#include "session/session.hpp"

namespace wsx::server {

class PollCarrier final : public session::Carrier, private PollPeer {
 public:
  PollCarrier(session::Session& session, PollHub& hub, PollChannelParams params);

  Transport transport() const noexcept override { return Transport::long_polling; }
  io::EventLoop& loop() noexcept override { return channel_.loop(); }
  bool is_open() const noexcept override { return channel_.is_open(); }
  // Each request may come over another connection, TLS or not: none is the session's.
  const io::TlsSession* tls() const noexcept override { return nullptr; }
  std::string remote_address() const override { return channel_.remote_address(); }

  void request_flush() override { channel_.request_flush(); }
  bool writes_in_place() const noexcept override { return false; }
  std::size_t write_now(std::span<const io::ConstBuffer>) noexcept override { return 0; }
  bool write_blocked() const noexcept override { return channel_.write_blocked(); }
  std::size_t unsent_bytes() const noexcept override { return channel_.unsent_bytes(); }
  std::size_t held_input_bytes() const noexcept override { return channel_.held_input_bytes(); }

  void pause_reading() override { channel_.pause_reading(); }
  void resume_reading() override { channel_.resume_reading(); }

  void close_gracefully(std::size_t, bool) override { channel_.close_gracefully(); }
  // Consumed bytes are only delivered once a later recv acknowledges them.
  bool consumed_is_delivered() const noexcept override { return false; }
  void close() noexcept override { channel_.close(); }

  PollChannel& channel() noexcept { return channel_; }

 private:
  void peer_data(std::span<std::uint8_t> data) override;
  std::size_t peer_read_allowance() override;
  std::size_t peer_gather(std::span<io::ConstBuffer> out) override;
  void peer_consume(std::size_t n) override;
  void peer_drained() override;
  void peer_end() override;
  void peer_error(std::string_view reason) override;
  void peer_input_changed() override;

  session::Session& session_;
  PollChannel channel_;
};

// What a worker creates for a long-polling open.
using PollSession = session::SessionOn<PollCarrier>;

}  // namespace wsx::server
