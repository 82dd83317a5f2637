// The steps of a long-polling request that do not depend on how it came (an HTTP/1.1
// connection or an HTTP/2 stream, docs/long-polling-protocol.md): the checks before its body is
// read or its open decided, and the making of the session once an open is accepted. The
// transports (UpgradeHandshake, H2ServerConnection) read bodies, wait and write answers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/poll_hub.hpp"
#include "server/poll_request.hpp"
#include "server/request_gate.hpp"
#include "server/server_shared.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::server {

// The PollHub of the server thread running `loop`; null when there is none (a server without
// long-polling hubs).
PollHub* poll_hub_on(const ServerShared& shared, const io::EventLoop& loop) noexcept;

// Well formed (classify_poll_request), a hub on this thread (else 503), and room in the memory
// budget for a send body (a body waits in memory until the session reads it: none is taken
// while the server is at its memory ceiling, 503). Views point into `head` and `query`.
PollClassification screen_poll_request(const ServerShared& shared, const Route& route,
                                       const proto::HttpHead& head, std::string_view query,
                                       const PollHub* hub);

// An accepted open's answer: 200 with its JSON, or a refusal (status, reason).
struct PollOpenAnswer {
  int status = 200;
  std::string_view reason;  // static text
  std::string body;         // 200: {"sid":...}
  std::string subprotocol;  // the one chosen, for the access log
};

// Makes the session of an accepted long-polling open on `hub` (this thread's): the subprotocol
// (the decision's if the client offered it, else the route's first offered), the client's
// address slot (503 over the per-address limit: the session counts like a connection for as
// long as it lives), bound to the open's Origin and CSRF token; the open callback runs.
// `peer`: the client's address; `remote`: as the session reports it.
PollOpenAnswer open_poll_session(ServerShared& shared, PollHub& hub, const Route& route,
                                 const proto::UpgradeRequest& request, UpgradeDecision decision,
                                 const io::SocketAddress& peer, std::string remote);

}  // namespace wsx::server
