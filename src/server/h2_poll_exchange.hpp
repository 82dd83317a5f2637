// One long-polling send or recv on a stream of an HTTP/2 connection (the HTTP/2 twin of
// PollExchange): takes the request's body from the stream's DATA (its Content-Length, which
// nghttp2 holds the peer to), sends the call to the thread that owns the session (poll_hub.hpp)
// and hands the answer, back on this thread, to the connection that answers the stream. A recv
// may be held for the route's `poll` interval; other streams go on meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "server/poll_hub.hpp"
#include "server/poll_request.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::server {

struct ServerShared;
struct Route;

// The answer as an HTTP response (HTTP/2 adds its content-length): never cached or sniffed, the
// Wsx-Offset of the protocol, no body for 204.
proto::HttpResponse poll_outcome_response(const PollOutcome& outcome);

class H2PollExchange {
 public:
  // Loop thread, once: the answer for the stream (not called once this exchange is destroyed).
  using Answer = std::function<void(PollOutcome)>;

  // A send or recv whose head is complete (its views are valid during the call).
  H2PollExchange(ServerShared& shared, PollHub& here, io::LoopHandle loop, const Route& route,
                 const proto::HttpHead& head, const PollRequest& request, Answer answer);
  // A reply still on its way is dropped (the stream is gone).
  ~H2PollExchange();
  H2PollExchange(const H2PollExchange&) = delete;
  H2PollExchange& operator=(const H2PollExchange&) = delete;

  // Sends a call without a body on at once; a send waits for its body.
  void start();
  // DATA of the stream: its body, up to the length announced (more is dropped: nghttp2 resets
  // a stream whose DATA exceeds its content-length before it comes here).
  void received(std::span<const std::uint8_t> data);
  // The peer ended the stream: a body shorter than announced is answered 400.
  void remote_ended();
  bool dispatched() const noexcept { return reply_ != nullptr; }

 private:
  void dispatch();
  void fail(int status, std::string_view reason);

  ServerShared& shared_;
  PollHub& here_;
  io::LoopHandle loop_;
  PollCall call_;
  std::size_t body_left_ = 0;
  Answer answer_;
  std::shared_ptr<PollReply> reply_;
};

}  // namespace wsx::server
