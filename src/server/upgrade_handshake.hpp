// The server side of the opening handshake for one connection: collects the request head,
// routes it, applies the Origin policy and the route's upgrade decision — made at once
// (`upgrade`) or later from any thread (`upgrade_async`) — and answers with 101 (then the
// session opens) or an HTTP error (then the session closes after sending it).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "server/pending_upgrade.hpp"
#include "server/poll_exchange.hpp"
#include "server/request_gate.hpp"
#include "server/worker.hpp"
#include "session/session.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"
#include "wsx/proto/request_target.hpp"

namespace wsx::server {

class UpgradeHandshake final : public session::Handshake, private UpgradeWaiter {
 public:
  // `peer`: the client's address, kept for reports after its socket is gone.
  UpgradeHandshake(ServerShared& shared, const io::SocketAddress& peer);
  ~UpgradeHandshake() override;
  void on_data(session::Session& session, std::span<std::uint8_t> data) override;
  // An upgrade_async decision still pending gets 503; an unfinished request is dropped.
  void on_timeout(session::Session& session) override;
  // A failed TLS handshake goes to the error hook (ErrorSource::tls_handshake) with the peer
  // and OpenSSL's reason; a client that just leaves (a TCP health check) is not reported.
  void on_failed(session::Session& session, std::string_view reason) override;
  // The server is stopping. A connection that serves long polling stays for now: the polling
  // sessions' closing handshakes (1001) travel on such connections (a held recv gets the close
  // frame, the client's reply comes on a kept-alive one: the listeners are closed). The worker
  // calls again once its polling sessions are gone: an idle connection is dropped then, a busy
  // one closes after its answer.
  bool on_going_away(session::Session& session) override;

  // Answers `status` at once (503 over the connection limit) and closes after sending.
  static void refuse(ServerShared& shared, session::Session& session, int status);
  // Answers a client over its per-address limits at once: 429 or 503 with Retry-After.
  static void refuse_client(ServerShared& shared, session::Session& session,
                            const AddressLimiter::Admission& admission);
  // Answers `refusal` at once and closes after sending.
  static void refuse_with(ServerShared& shared, session::Session& session,
                          const AcceptRefusal& refusal);
  // A long-polling request was answered: the connection waits for its next request
  // (keep-alive) or closes.
  void poll_answered(session::Session& session, bool keep_alive);

 private:
  // UpgradeWaiter (a task posted by UpgradeResponder, loop thread): applies the decision.
  void decided(UpgradeDecision decision) override;

  // A complete request waiting for its upgrade_async decision: the head (parsed in place in
  // buffer_, which no longer changes) and the bytes that came after it.
  struct Waiting {
    const Route* route = nullptr;
    proto::UpgradeRequest request;
    std::string early_data;
    std::shared_ptr<detail::PendingUpgrade> pending;
    session::Session* session = nullptr;
  };

  // Sends `response` (its head only for HEAD), closes after sending, and logs the answer with
  // `reason` (why it was refused, if the status does not say); counts it in wsx_upgrades_total
  // unless it answers plain HTTP (`upgrade` false).
  static void respond(ServerShared& shared, session::Session& session,
                      const proto::HttpResponse& response, const proto::HttpHead* head,
                      std::string_view reason = {}, bool upgrade = true);
  // Keeps the request and hands it to the route's upgrade_async with a responder.
  void wait_for_decision(session::Session& session, const Route& route, std::string_view head,
                         std::span<const std::uint8_t> rest);
  void keep_early_data(session::Session& session, std::span<const std::uint8_t> data);
  // The one place a decision, synchronous or not, becomes a 101 or a refusal.
  void apply(session::Session& session, const Route& route, const proto::UpgradeRequest& request,
             UpgradeDecision decision, std::span<std::uint8_t> rest);
  void stop_waiting() noexcept;
  // ---- long polling (Behavior::long_polling, docs/long-polling-protocol.md)
  // `head_bytes`: the head as received (kept if the decision is asynchronous).
  void poll_request(session::Session& session, const Route& route, const proto::HttpHead& head,
                    std::string_view head_bytes, const proto::RequestTarget& target,
                    std::span<std::uint8_t> rest);
  void refuse_poll(session::Session& session, int status, std::string_view reason,
                   const proto::HttpHead* head);
  void open_poll_session(session::Session& session, const Route& route,
                         const proto::UpgradeRequest& request, UpgradeDecision decision,
                         std::span<std::uint8_t> rest);
  PollHub* hub_here(session::Session& session) const noexcept;
  void cancel_idle_timer() noexcept;

  ServerShared& shared_;
  io::SocketAddress peer_;
  std::string buffer_;  // the request head so far (and any bytes after it)
  proto::HttpHeadParser parser_;
  std::unique_ptr<Waiting> waiting_;
  std::unique_ptr<PollExchange> poll_;  // a send or recv in progress (created on the first)
  bool poll_open_ = false;              // the request being decided is a long-polling open
  bool kept_alive_ = false;             // answered a long-polling request and stayed open
  bool stopping_ = false;               // on_going_away was called
  bool close_after_answer_ = false;     // ... twice while a poll was busy
  io::EventLoop* idle_loop_ = nullptr;  // where idle_timer_ runs
  io::TimerId idle_timer_ = 0;          // a kept-alive connection without a request
};

}  // namespace wsx::server
