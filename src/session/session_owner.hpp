// What the owner of a session (a server worker, a client) gives it and gets from it: the
// route's configuration, the opening handshake's driver, the owner's hooks, and what the
// protocol starts with.
#pragma once

#include <any>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "session/layer_export.hpp"
#include "session/memory_budget.hpp"
#include "wsx/error_report.hpp"
#include "wsx/proto/connection.hpp"
#include "wsx/websocket.hpp"

namespace wsx::session {

class ConnectionMetrics;
class Session;
class TopicRegistry;

// Shared by every connection of a route (server) or of a client; must outlive its sessions.
// What reports need lives here, not in each session, so that an idle connection stays small.
struct WSX_LAYER_API SessionConfig {
  WebSocketOptions options;
  WebSocketHandlers handlers;
  proto::DeflateTuning deflate_tuning;    // how our compressor runs when deflate is negotiated
  const ErrorHook* error_hook = nullptr;  // exceptions from the handlers; null: stderr
  std::string route;                      // for those reports: the route pattern, or the URL
};

// Drives the opening handshake. Owned by the session and destroyed (after the call that ended
// it returns) once open(), reject() or abort() was called.
class WSX_LAYER_API Handshake {
 public:
  virtual ~Handshake() = default;
  // Bytes from the peer (valid during the call). Keep what you need.
  virtual void on_data(Session& session, std::span<std::uint8_t> data) = 0;
  // The handshake did not finish within its timeout. The default drops the connection.
  virtual void on_timeout(Session& session);
  // The transport ended or failed before open(); the session is released right after.
  // `reason` is empty when the peer just closed.
  virtual void on_failed(Session& session, std::string_view reason);
  // The server is stopping (Session::going_away before open): true when the handshake keeps
  // the connection a while to finish what it serves and closes it itself; false (the default)
  // drops it now.
  virtual bool on_going_away(Session& session);
};

class WSX_LAYER_API SessionOwner {
 public:
  // The memory budget of the owner's thread (server workers), or none: sessions are counted
  // there (see memory_budget.hpp).
  BudgetLedger* budget_ledger = nullptr;
  // The owner's thread's counters of the server's metrics (server workers), or none.
  ConnectionMetrics* metrics = nullptr;
  // The topics of the owner's thread (server connections), or none (a client): the same for
  // all of its sessions, so kept here rather than in each (Session::topics_registry()).
  TopicRegistry* topic_registry = nullptr;

  // The session is finished and its transport closed: destroy it now.
  virtual void release(Session& session) noexcept = 0;

 protected:
  ~SessionOwner() = default;
};

// What the protocol phase starts with.
struct WSX_LAYER_API OpenParams {
  proto::Role role = proto::Role::server;
  std::optional<proto::DeflateParams> deflate;  // as negotiated
  std::string subprotocol;
  std::any user_data;
};

}  // namespace wsx::session
