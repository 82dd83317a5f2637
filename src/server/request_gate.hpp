// What a request meets before any WebSocket opens, the same whether it came as an HTTP/1.1
// upgrade or an HTTP/2 extended CONNECT (both are a proto::HttpHead by then): its target, the
// route, the plain-HTTP handler, the handshake's checks, the Origin policy and the CSRF token;
// then the route's decision and the answer it becomes. The transports only move the answers.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "server/pending_upgrade.hpp"
#include "server/router.hpp"
#include "server/server_shared.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"
#include "wsx/proto/request_target.hpp"
#include "wsx/server.hpp"

namespace wsx::server {

struct GateOutcome {
  enum class Kind : std::uint8_t {
    refuse,      // answer `response` (and log `reason`)
    plain_http,  // a request for ServerOptions::http: `target`
    upgrade,     // the route decides on `request`
    // A wsx-poll request on a route with Behavior::long_polling (docs/long-polling-protocol.md):
    // `target` and `route`; an open comes back through poll_open_request() and admit().
    long_polling,
  };
  Kind kind = Kind::refuse;
  proto::HttpResponse response;
  std::string_view reason;
  std::optional<proto::RequestTarget> target;
  const Route* route = nullptr;  // once routed
  std::optional<proto::UpgradeRequest> request;
};

// Target (400), route (404, or plain HTTP for a request that does not try to open a
// WebSocket when ServerOptions::http is set), long polling (a wsx-poll query on a route that
// offers it), handshake checks (400/426), then admit(). Views point into `head`.
GateOutcome pass_gate(const ServerShared& shared, const proto::HttpHead& head);

// What every way of opening a WebSocket meets once its request is understood (an HTTP/1.1
// upgrade, an HTTP/2 extended CONNECT, a long-polling open): Origin (403) and CSRF (403 with
// the reason); the request's "csrf.*" subprotocols are dropped. False: `refused` holds the
// answer (its response and reason).
bool admit(const Behavior& behavior, proto::UpgradeRequest& request, GateOutcome& refused);

// The route's upgrade request made from a long-polling open (no Upgrade header; Wsx-Protocol
// stands for Sec-WebSocket-Protocol): nullopt when it does not make one (no Host or an invalid
// one, Wsx-Protocol not a list of distinct tokens, two Origins). Views point into `head`.
std::optional<proto::UpgradeRequest> poll_open_request(const proto::HttpHead& head);

// A request tries to open a WebSocket: an HTTP/1.1 Upgrade header, an HTTP/2 :protocol.
bool tries_websocket(const proto::HttpHead& head) noexcept;

proto::HttpResponse plain_response(int status, std::string body = {});
// A client over its per-address limits (AddressLimits): 429 for the handshake rate, 503 for the
// connection count, with Retry-After; `reason` is set for the access log.
proto::HttpResponse client_refusal(const AddressLimiter::Admission& admission,
                                   std::string_view& reason);
// A connection refused as it is accepted (over max_connections, or its address over its
// limits): the answer to its first request, in whichever protocol the connection speaks, and
// why (for the access log; empty when the status says it).
struct AcceptRefusal {
  proto::HttpResponse response;
  std::string_view reason;
};

// For an exception from application code: no detail (what() may hold secrets).
proto::HttpResponse internal_error();

// ServerOptions::http's answer; 500 when it throws (reported to the error hook).
proto::HttpResponse serve_plain_http(const ServerShared& shared, const proto::HttpHead& head,
                                     const proto::RequestTarget& target, std::string_view remote);
// The route's synchronous decision (accept when it has no `upgrade`); nullopt when it threw
// (reported: answer internal_error()).
std::optional<UpgradeDecision> decide_now(const ServerShared& shared, const Route& route,
                                          const proto::HttpHead& head,
                                          const proto::UpgradeRequest& request,
                                          std::string_view remote);
// What the upgrade callbacks see; views point into the arguments.
UpgradeRequest request_view(const proto::HttpHead& head, const proto::UpgradeRequest& request,
                            std::string_view remote);
// An accepting decision's negotiation: its subprotocol or the route's list, the route's
// deflate, its headers.
proto::AcceptOptions accept_options(const Route& route, UpgradeDecision& decision);
// A rejecting decision as the response to send.
proto::HttpResponse rejection(UpgradeDecision& decision);

// A long-polling request's refusal: `reason` as JSON, never cached or sniffed (with Allow for
// 405, Retry-After for 503).
proto::HttpResponse poll_refusal_response(int status, std::string_view reason);

// One line of ServerOptions::access_log (when set): fills the request's fields from `head`.
void log_access(const ServerShared& shared, std::string_view remote, AccessRecord& record,
                const proto::HttpHead* head);

// Whoever waits for an upgrade_async decision (on the loop thread).
class UpgradeWaiter {
 public:
  virtual void decided(UpgradeDecision decision) = 0;

 protected:
  ~UpgradeWaiter() = default;
};
// Loop thread: hands `decision` to the waiter if there still is one.
void deliver_decision(detail::PendingUpgrade& pending, UpgradeDecision decision);
// A pending decision for `waiter` on `loop`, and the responder the application answers with.
std::shared_ptr<detail::PendingUpgrade> make_pending(io::LoopHandle loop, UpgradeWaiter& waiter);
class ResponderFactory {
 public:
  static UpgradeResponder make(std::shared_ptr<detail::PendingUpgrade> pending) {
    return UpgradeResponder(std::move(pending));
  }
};
// Loop thread: the waiter no longer waits; a later answer does nothing.
void cancel_pending(detail::PendingUpgrade& pending) noexcept;

}  // namespace wsx::server
