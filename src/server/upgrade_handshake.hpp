// The server side of the opening handshake for one connection: collects the request head,
// routes it, applies the Origin policy and the route's upgrade decision, and answers with 101
// (then the session opens) or an HTTP error (then the session closes after sending it).
#pragma once

#include <span>
#include <string>

#include "server/worker.hpp"
#include "session/session.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::server {

class UpgradeHandshake final : public session::Handshake {
 public:
  explicit UpgradeHandshake(ServerShared& shared);
  void on_data(session::Session& session, std::span<std::uint8_t> data) override;

  // Answers `status` at once (503 over the connection limit) and closes after sending.
  static void refuse(ServerShared& shared, session::Session& session, int status);

 private:
  // Sends `response` (its head only for HEAD), closes after sending, and logs the answer.
  static void respond(ServerShared& shared, session::Session& session,
                      const proto::HttpResponse& response, const proto::HttpHead* head);
  void answer_plain_http(session::Session& session, const proto::HttpHead& head);

  ServerShared& shared_;
  std::string buffer_;  // the request head so far (and any bytes after it)
  proto::HttpHeadParser parser_;
};

}  // namespace wsx::server
