// The TCP/TLS carrier: a session's bytes over an io::Stream (an HTTP/1.1 upgrade on a socket).
#pragma once

#include <optional>
#include <string>

#include "session/carrier.hpp"
#include "session/layer_export.hpp"
#include "session/session.hpp"
#include "wsx/io/stream.hpp"

namespace wsx::session {

class WSX_LAYER_API TcpCarrier final : public Carrier, private io::StreamHandler {
 public:
  TcpCarrier(Session& session, io::EventLoop& loop, io::TcpSocket socket,
             std::optional<io::TlsSession> tls);

  Transport transport() const noexcept override { return Transport::http1; }
  io::EventLoop& loop() noexcept override { return stream_.loop(); }
  bool is_open() const noexcept override { return stream_.is_open(); }
  const io::TlsSession* tls() const noexcept override { return stream_.tls(); }
  std::string remote_address() const override;

  void request_flush() override { stream_.request_flush(); }
  // Plain TCP only: TLS encrypts into its own buffer, so nothing is gained by lending.
  // With TLS too: write_now() encrypts the bytes at once (io::Stream::write_now).
  bool writes_in_place() const noexcept override { return true; }
  std::size_t write_now(std::span<const io::ConstBuffer> buffers) noexcept override {
    return stream_.write_now(buffers);
  }
  bool write_blocked() const noexcept override { return stream_.write_blocked(); }
  std::size_t unsent_bytes() const noexcept override { return stream_.unsent_bytes(); }
  // Only TLS holds bytes (ciphertext); a stream gets TLS at construction or never.
  bool keeps_bytes() const noexcept override { return stream_.has_tls(); }

  // The socket holds input already (io::Stream::read_now): may destroy the session.
  void read_now() { stream_.read_now(); }
  void pause_reading() override { stream_.pause_reading(); }
  void resume_reading() override { stream_.resume_reading(); }

  void close_gracefully(std::size_t discard_limit, bool send_fin) override {
    stream_.close_gracefully(discard_limit, send_fin);
  }
  // TLS still owes close_notify and may hold ciphertext: only plain TCP.
  bool consumed_is_delivered() const noexcept override { return !stream_.has_tls(); }
  bool input_drained() const noexcept override { return stream_.input_drained(); }
  void close_after_output() noexcept override { stream_.close_after_output(); }
  void close() noexcept override { stream_.close(); }

 private:
  // io::StreamHandler: forwarded to the session
  void on_stream_data(std::span<std::uint8_t> data) override;
  std::size_t read_allowance() override;
  std::span<std::uint8_t> read_destination() override;
  void on_stream_data_placed(std::size_t n) override;
  std::size_t gather_output(std::span<io::ConstBuffer> out) override;
  void consume_output(std::size_t n) override;
  bool gather_is_pure() const noexcept override { return true; }  // Session::carrier_gather
  void on_stream_drained() override;
  void on_stream_end() override;
  void on_stream_error(std::string_view reason) override;
  // The session around this carrier: found from where the carrier lies in it, not kept in a
  // pointer (8 bytes per idle connection; see tcp_carrier.cpp).
  Session& session() noexcept;

  io::Stream stream_;
};

// What the server's workers and the client create for a connection they accepted or opened.
using TcpSession = SessionOn<TcpCarrier>;

}  // namespace wsx::session
