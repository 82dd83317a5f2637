// One HTTP/2 connection of the client (TLS, ALPN offering h2 then http/1.1), for WebSockets
// opened as its streams by extended CONNECT (RFC 8441). It belongs to an Http2Pool and may
// carry the WebSockets of several clients of the pool's loop.
//
// Until it is ready, clients wait on it (H2Waiter). The TLS handshake tells which protocol the
// server chose: with h2 our preface and SETTINGS go out, and the server's SETTINGS say whether
// extended CONNECT is allowed — then the waiters open their streams; without it they fall back
// to HTTP/1.1 on new connections. With http/1.1 the TLS connection itself goes to the first
// waiter for an HTTP/1.1 upgrade. GOAWAY from the server: the open streams go on, the pool
// offers the connection no more, and its waiters (and streams the server never processed) try a
// new one. When its last stream ends, the connection says GOAWAY and
// closes (a lingering close, bounded in time).
//
// Lifetime: made by its pool, which it tells through Owner::connection_closed() once its
// transport is closed and no stream is left; called when no code of the connection is on the
// stack. Loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "h2/h2_connection.hpp"
#include "h2/h2_stream_carrier.hpp"
#include "session/session.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/stream.hpp"
#include "wsx/io/timeout_wheel.hpp"

namespace wsx::client_detail {

class H2ClientConnection;
class H2HandshakeDriver;

using H2StreamSession = session::SessionOn<h2::H2StreamCarrier>;

// A client waiting for the connection to be ready. Each call ends the wait (the waiter is no
// longer on the connection's list).
class H2Waiter {
 public:
  // Extended CONNECT is allowed: open the stream now (open_stream()).
  virtual void h2_ready(H2ClientConnection& connection) = 0;
  // No WebSocket over HTTP/2 here: `tls_connection` is the connection itself when the server
  // chose http/1.1 by ALPN (given to one waiter), otherwise empty (open a new one that offers
  // http/1.1 only). `why` says what happened, for traces.
  virtual void h2_unavailable(std::optional<io::Stream::Released> tls_connection,
                              std::string_view why) = 0;
  // The connection failed before it was ready (TLS, timeout, the server left).
  virtual void h2_failed(ClientError error) = 0;
  // The connection is ready but the server's SETTINGS_MAX_CONCURRENT_STREAMS leaves no stream
  // for this waiter: ask the pool again (another connection, or a new one).
  virtual void h2_full() = 0;
  // The server sent GOAWAY before this waiter's stream opened: nothing of it was sent, so it may
  // try again on a new connection (RFC 9113 §6.8); `error` is what to report if it does not.
  virtual void h2_goaway(ClientError error) = 0;

 protected:
  ~H2Waiter() = default;
};

class H2ClientConnection final : private io::StreamHandler,
                                 private h2::H2Handler,
                                 public h2::H2StreamHost {
 public:
  class Owner {
   public:
    virtual void connection_closed(H2ClientConnection& connection) noexcept = 0;

   protected:
    ~Owner() = default;
  };

  // `key`: the origin and TLS settings it serves (the pool's key); `timeout`: for the TLS
  // handshake and the server's SETTINGS together.
  H2ClientConnection(io::EventLoop& loop, io::TcpSocket socket, io::TlsSession tls, Owner& owner,
                     std::string key, std::string remote, std::chrono::milliseconds timeout);
  ~H2ClientConnection();
  H2ClientConnection(const H2ClientConnection&) = delete;
  H2ClientConnection& operator=(const H2ClientConnection&) = delete;

  // Waits for the connection (answered on a later loop iteration when it is ready already).
  void add_waiter(H2Waiter& waiter);
  void remove_waiter(H2Waiter& waiter) noexcept;
  // The pool may give it to a new WebSocket: not failed, closing or told GOAWAY, and below the
  // server's limit of concurrent streams.
  bool accepts_streams() const noexcept;
  // Opens the stream of `session` (created on this connection with stream id 0): the extended
  // CONNECT of `handshake` goes out. Returns the stream id, or a negative value when the
  // connection cannot open one (the session was not touched).
  std::int32_t open_stream(H2StreamSession& session, H2HandshakeDriver& handshake);
  // Drops the transport now (the pool is being destroyed): every stream fails (1006).
  void close_now() noexcept;

  const std::string& key() const noexcept { return key_; }
  std::size_t streams() const noexcept { return streams_.size(); }

  // h2::H2StreamHost
  io::EventLoop& loop() noexcept override { return loop_; }
  const io::TlsSession* tls() const noexcept override { return stream_->tls(); }
  const std::string& remote_address() const noexcept override { return remote_; }
  void resume(std::int32_t stream_id) override;
  void consume(std::int32_t stream_id, std::size_t n) override;
  void hold(std::size_t n) override;
  void consume_held(std::int32_t stream_id, std::size_t n) override;
  std::int32_t send_window(std::int32_t stream_id) const override;
  bool producing_output() const noexcept override { return h2_ && h2_->producing_output(); }
  void reset_stream(std::int32_t stream_id) override;
  void carrier_gone(std::int32_t stream_id) noexcept override;

 private:
  enum class State : std::uint8_t { securing, settings, ready, unavailable, closing, closed };
  struct Open {
    H2StreamSession* session = nullptr;
    H2HandshakeDriver* handshake = nullptr;  // until the response came
  };
  class Entry {
   public:
    explicit Entry(H2ClientConnection& connection) : connection_(connection) {
      ++connection_.depth_;
    }
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    H2ClientConnection& connection_;
  };

  // io::StreamHandler
  void on_stream_secured() override;
  void on_stream_data(std::span<std::uint8_t> data) override;
  std::size_t gather_output(std::span<io::ConstBuffer> out) override;
  void consume_output(std::size_t n) override;
  void on_stream_end() override;
  void on_stream_error(std::string_view reason) override;
  // h2::H2Handler
  void on_response(h2::H2Response& response) override;
  void on_data(std::int32_t stream_id, std::span<const std::uint8_t> data) override;
  void on_remote_end(std::int32_t stream_id) override;
  void on_stream_closed(std::int32_t stream_id, std::uint32_t error) override;
  void on_send_window_update() override;
  void on_settings() override;
  void on_goaway(std::int32_t last_stream_id, std::uint32_t error) override;

  h2::H2StreamCarrier* carrier_of(std::int32_t stream_id) noexcept;
  void serve_waiters();  // ready: each waiter opens its stream
  void turn_away_waiters(std::string_view why);
  void fail_waiters(const ClientError& error);
  void after_io();          // flush; close once idle or finished
  void close_gracefully();  // GOAWAY out, then close_notify and FIN, bounded
  void closed_transport();  // every stream fails; the pool hears when all are gone

  io::EventLoop& loop_;
  std::unique_ptr<io::Stream> stream_;
  Owner& owner_;
  std::string key_;
  std::string remote_;
  std::chrono::milliseconds timeout_;
  std::optional<h2::H2Connection> h2_;
  std::vector<H2Waiter*> waiters_;
  std::unordered_map<std::int32_t, Open> streams_;
  io::Timeout timer_;      // TLS and SETTINGS; later the bound of the lingering close
  io::TimerId serve_ = 0;  // a posted serve_waiters() for waiters that came when ready
  State state_ = State::securing;
  std::uint8_t depth_ = 0;
  bool released_ = false;
};

}  // namespace wsx::client_detail
