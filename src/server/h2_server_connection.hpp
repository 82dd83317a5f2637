// One HTTP/2 connection of the server (TLS with ALPN h2): the io::Stream it took over, the
// H2Connection that speaks HTTP/2 on it, and what each request gets. Every request goes through
// the same gate as an HTTP/1.1 one (request_gate.hpp): plain requests are answered by
// ServerOptions::http, an extended CONNECT (RFC 8441) meets the route, Origin, CSRF and the
// route's decision, synchronous or not, and is answered with its status — 200 once accepted.
//
// An accepted WebSocket runs on its stream: a session (the same as over HTTP/1.1) on an
// H2StreamCarrier, answered 200 with the negotiated sec-websocket-protocol/-extensions.
// Long-polling requests (a page over h2 whose WebSocket failed) are streams too: an open meets
// the same gate and decision, then makes its session (poll_admission.hpp); a send or recv goes
// to the session's thread through an H2PollExchange and its answer ends the stream.
//
// Lifetime: made by its owner, which it tells through Owner::release() once its transport is
// closed; release() is called when no code of the connection is on the stack. Loop thread only.
#pragma once

#include <any>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>

#include "h2/h2_connection.hpp"
#include "h2/h2_stream_carrier.hpp"
#include "server/h2_poll_exchange.hpp"
#include "server/request_gate.hpp"
#include "server/server_shared.hpp"
#include "session/session.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/io/stream.hpp"
#include "wsx/io/timeout_wheel.hpp"

namespace wsx::server {

// The HTTP/2 driver and stream carrier live in the h2 layer, shared with the client.
using h2::H2Connection;
using h2::H2Error;
using h2::H2Handler;
using h2::H2Limits;
using h2::H2Request;
using h2::H2Source;
using h2::H2StreamCarrier;

class H2ServerConnection final : private io::StreamHandler,
                                 private H2Handler,
                                 private h2::H2StreamHost,
                                 private session::SessionOwner {
 public:
  class Owner {
   public:
    virtual void release(H2ServerConnection& connection) noexcept = 0;

   protected:
    ~Owner() = default;
  };

  // Takes `stream` over: its events come here from now on. `peer`: the client's address (its
  // per-address limits count each WebSocket stream). `topics`, `budget` (may be null) are the
  // worker's, for the WebSockets.
  H2ServerConnection(ServerShared& shared, io::EventLoop& loop, std::unique_ptr<io::Stream> stream,
                     Owner& owner, session::ConnectionMetrics* connection_metrics,
                     const io::SocketAddress& peer, const H2Limits& limits,
                     session::TopicRegistry* topics = nullptr,
                     session::BudgetLedger* budget = nullptr);
  ~H2ServerConnection();
  H2ServerConnection(const H2ServerConnection&) = delete;
  H2ServerConnection& operator=(const H2ServerConnection&) = delete;

  // Bytes the stream delivered before the takeover (the client preface, ...), then runs.
  void start(std::span<std::uint8_t> first);
  // Graceful shutdown: 1001 to the WebSockets, GOAWAY; streams still open finish, then the
  // connection closes. With `keep_for_polling` the GOAWAY waits for a later going_away(): a
  // client whose long-polling session is closing needs new streams for its next recv (which
  // brings it the 1001) and for its reply, and any GOAWAY forbids new streams (RFC 9113 §6.8),
  // as the closed listeners forbid a new connection. The owner calls going_away() again once
  // its polling sessions are gone (each bounded by LongPolling::stop_grace).
  void going_away(bool keep_for_polling = false);
  // A long-polling request came on this connection.
  bool carried_polling() const noexcept { return carried_polling_; }
  // The connection was refused at accept (before start()): each request is answered with
  // `refusal`, and the first answer is followed by GOAWAY (NO_ERROR) naming the last stream
  // processed, then the close (RFC 9113 §6.8): an HTTP/2 client learns the status and its
  // Retry-After, and that no other request was processed.
  void refuse_all(AcceptRefusal refusal) { refusal_ = std::move(refusal); }
  // Drops the transport now, for an owner about to destroy it: release() does not follow.
  void close_now() noexcept;

  std::size_t open_streams() const noexcept { return h2_.open_streams(); }
  std::size_t websockets() const noexcept { return websockets_.size(); }

  // ---- for the stream carriers
  io::EventLoop& loop() noexcept override { return loop_; }
  const io::TlsSession* tls() const noexcept override { return stream_->tls(); }
  void resume(std::int32_t stream_id) override;  // output waits on the stream: send it
  void consume(std::int32_t stream_id, std::size_t n) override;
  void hold(std::size_t n) override;
  void consume_held(std::int32_t stream_id, std::size_t n) override;
  std::int32_t send_window(std::int32_t stream_id) const override {
    return h2_.send_window(stream_id);
  }
  bool producing_output() const noexcept override { return h2_.producing_output(); }
  void reset_stream(std::int32_t stream_id) override;
  const std::string& remote_address() const noexcept override { return remote_; }

  // Intrusive links for the owner's list of live connections.
  H2ServerConnection* owner_prev = nullptr;
  H2ServerConnection* owner_next = nullptr;

 private:
  // A request waiting for its route's upgrade_async decision.
  struct Waiting final : UpgradeWaiter {
    H2ServerConnection* connection = nullptr;
    std::int32_t stream_id = 0;
    const Route* route = nullptr;
    const proto::HttpHead* head = nullptr;  // in the stream's storage, valid while it is open
    proto::UpgradeRequest request;
    std::shared_ptr<detail::PendingUpgrade> pending;
    bool poll_open = false;  // a long-polling open, not an extended CONNECT
    void decided(UpgradeDecision decision) override;
  };

  // What a WebSocket stream takes from the server's limits, from the request that passed the
  // gate until the stream's WebSocket is released (or the request refused): one of
  // max_connections and a slot of its client's AddressLimits, as an HTTP/1.1 connection does.
  struct StreamCharge {
    StreamCharge(std::atomic<std::size_t>& server_connections, AddressSlot address_slot) noexcept
        : connections(server_connections), slot(std::move(address_slot)) {}
    ~StreamCharge() { connections.fetch_sub(1); }
    StreamCharge(const StreamCharge&) = delete;
    StreamCharge& operator=(const StreamCharge&) = delete;
    std::atomic<std::size_t>& connections;
    AddressSlot slot;
  };

  class Entry {
   public:
    explicit Entry(H2ServerConnection& connection) : connection_(connection) {
      ++connection_.depth_;
    }
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    H2ServerConnection& connection_;
  };

  // io::StreamHandler
  void on_stream_data(std::span<std::uint8_t> data) override;
  std::size_t gather_output(std::span<io::ConstBuffer> out) override;
  void consume_output(std::size_t n) override;
  void on_stream_end() override;
  void on_stream_error(std::string_view reason) override;
  // H2Handler
  void on_request(H2Request& request) override;
  void on_data(std::int32_t stream_id, std::span<const std::uint8_t> data) override;
  void on_remote_end(std::int32_t stream_id) override;
  void on_stream_closed(std::int32_t stream_id, std::uint32_t error) override;
  void on_send_window_update() override;
  // session::SessionOwner: a WebSocket of a stream is finished.
  void release(session::Session& session) noexcept override;
  H2StreamCarrier* carrier_of(std::int32_t stream_id) noexcept;
  // The stream's WebSocket would be one more connection: charges it, or answers 503 (the
  // server's max_connections) or the client's 429/503 (AddressLimits) and returns false.
  bool charge_stream(std::int32_t stream_id, const proto::HttpHead& head);
  void open_websocket(std::int32_t stream_id, const Route& route, const proto::HttpHead& head,
                      proto::Accepted accepted, std::any user_data);

  void receive(std::span<std::uint8_t> data);
  void after_io();  // flush, close when HTTP/2 is done, idle timer
  void on_idle();
  // Sends `response` on the stream, logs it, counts it when it answers a WebSocket attempt.
  void respond(std::int32_t stream_id, const proto::HttpHead& head,
               const proto::HttpResponse& response, std::string_view reason = {});
  void apply(std::int32_t stream_id, const Route& route, const proto::HttpHead& head,
             const proto::UpgradeRequest& request, UpgradeDecision decision);
  // Keeps the request and hands it to the route's upgrade_async with a responder.
  void wait_for_decision(std::int32_t stream_id, const Route& route, const proto::HttpHead& head,
                         proto::UpgradeRequest request, bool poll_open);
  // ---- long polling (h2_server_connection_poll.cpp)
  void poll_request(std::int32_t stream_id, const Route& route, const proto::HttpHead& head,
                    const proto::RequestTarget& target);
  void open_poll(std::int32_t stream_id, const Route& route, const proto::HttpHead& head,
                 const proto::UpgradeRequest& request, UpgradeDecision decision);
  void poll_answered(std::int32_t stream_id, const proto::HttpHead& head, PollOutcome outcome);
  // An answer of a long-polling session's request, logged with its transport (long-polling).
  void respond_poll(std::int32_t stream_id, const proto::HttpHead& head,
                    const proto::HttpResponse& response, std::string_view reason,
                    std::string_view subprotocol = {});
  H2PollExchange* poll_of(std::int32_t stream_id) noexcept;
  void close_gracefully();  // what we owe goes out, then FIN; bounded in time
  void closed_transport();

  ServerShared& shared_;
  io::EventLoop& loop_;
  std::unique_ptr<io::Stream> stream_;
  Owner& owner_;
  session::ConnectionMetrics* metrics_;
  io::SocketAddress peer_;
  std::string remote_;
  H2Connection h2_;
  std::unordered_map<std::int32_t, StreamCharge> charges_;
  std::unordered_map<std::int32_t, std::unique_ptr<Waiting>> waiting_;
  using StreamSession = session::SessionOn<H2StreamCarrier>;
  std::unordered_map<std::int32_t, StreamSession*> websockets_;
  std::unordered_map<std::int32_t, std::unique_ptr<H2PollExchange>> polls_;
  std::optional<AcceptRefusal> refusal_;  // refused at accept (refuse_all)
  io::Timeout idle_;  // no stream for a while; while closing, the bound of the linger
  std::uint8_t depth_ = 0;
  bool going_away_ = false;       // going_away() was called
  bool goaway_pending_ = false;   // ... and its GOAWAY waits for the close frames to leave
  bool goaway_deferred_ = false;  // ... and its GOAWAY waits for the polling sessions to end
  bool carried_polling_ = false;  // a long-polling request came
  bool closing_ = false;          // the transport is closing gracefully
  bool closed_ = false;  // the transport is closed: release when the outermost entry returns
  bool released_ = false;
};

}  // namespace wsx::server
