// The HTTP side of one long-polling send or recv, on the TCP connection that carries it: reads
// its body (Content-Length), sends it to the thread that owns the session (poll_hub.hpp), waits
// for the answer — a recv may be held for the route's `poll` interval — and writes it. The
// connection then serves its next request (keep-alive) through its UpgradeHandshake.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "server/poll_hub.hpp"
#include "server/poll_request.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::session {
class Session;
}

namespace wsx::server {

class UpgradeHandshake;
struct ServerShared;
struct Route;

class PollExchange {
 public:
  PollExchange(ServerShared& shared, UpgradeHandshake& handshake, PollHub& here) noexcept
      : shared_(shared), handshake_(handshake), here_(here) {}
  ~PollExchange();
  PollExchange(const PollExchange&) = delete;
  PollExchange& operator=(const PollExchange&) = delete;

  // A send or recv whose head is complete (its views are valid during the call): keeps what
  // it needs, takes its body from `rest` and the bytes that follow, then sends it on.
  void start(session::Session& session, const Route& route, const proto::HttpHead& head,
             const PollRequest& request, std::span<const std::uint8_t> rest);
  // Reading a body or waiting for the answer: bytes go to on_data(), not to the handshake.
  bool busy() const noexcept { return session_ != nullptr; }
  bool waiting() const noexcept { return reply_ != nullptr; }
  void on_data(session::Session& session, std::span<const std::uint8_t> data);
  // The connection's thread (posted by PollReply::deliver): writes the answer, then the
  // connection goes on with its next request or closes.
  void answer(PollOutcome outcome);

 private:
  void take(std::span<const std::uint8_t> data);
  void dispatch();
  void forget_reply() noexcept;

  ServerShared& shared_;
  UpgradeHandshake& handshake_;
  PollHub& here_;
  session::Session* session_ = nullptr;  // while busy
  PollCall call_;
  std::size_t body_left_ = 0;
  std::string leftover_;  // bytes of the next request (a client that pipelines)
  bool keep_alive_ = true;
  // For the access log.
  std::string method_;
  std::string target_;
  std::optional<std::string> origin_;
  std::shared_ptr<PollReply> reply_;
};

}  // namespace wsx::server
