// One server thread: its event loop, its listeners (SO_REUSEPORT on the shared port), its live
// sessions and its topic registry. Everything here runs on the worker's loop thread, except
// begin_shutdown() which is posted to it.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/address_limiter.hpp"
#include "server/h2_server_connection.hpp"
#include "server/poll_hub.hpp"
#include "server/protocol_switch.hpp"
#include "server/router.hpp"
#include "server/server_shared.hpp"
#include "session/block_pool.hpp"
#include "session/connection_metrics.hpp"
#include "session/memory_budget.hpp"
#include "session/session.hpp"
#include "session/tcp_carrier.hpp"
#include "session/topics.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/listener.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/server.hpp"

namespace wsx::server {

class Worker final : private session::SessionOwner,
                     private ProtocolSwitch::Owner,
                     private H2ServerConnection::Owner {
 public:
  Worker(ServerShared& shared, std::uint16_t index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  io::EventLoop& loop() noexcept { return loop_; }
  session::TopicRegistry& topics() noexcept { return topics_; }
  ServerShared& shared() noexcept { return shared_; }
  session::ConnectionMetrics& metrics() noexcept { return metrics_; }
  PollHub& poll_hub() noexcept { return poll_hub_; }
  [[nodiscard]] std::error_code listen(const io::SocketAddress& address);
  // The listener the last successful listen() added: its descriptor, and undoing it when the
  // address turns out to be someone else's (Server::listen).
  int last_listener_fd() const noexcept;
  std::uint16_t last_listener_port() const;
  void close_last_listener() noexcept;
  std::uint16_t port() const;
  // Loop thread: stop accepting, close 1001 everywhere, stop the loop when all are gone or
  // when the shutdown timeout passes.
  void begin_shutdown();

 private:
  // `input_waiting`: the listener defers accept until the client's first bytes are there
  // (ServerOptions::defer_accept), so they are read at once.
  void accept(io::TcpSocket socket, const io::SocketAddress& peer, bool input_waiting);
  // PollHub::opener: a long-polling session of this thread.
  bool open_poll_session(PollOpen& open);
  // An HTTP/1.1 session on `socket` (and `tls`): false when it could not even start.
  session::TcpSession* start_session(io::TcpSocket socket, std::optional<io::TlsSession> tls,
                                     const io::SocketAddress& peer);
  void release(session::Session& session) noexcept override;
  // ProtocolSwitch::Owner (ServerOptions::http2, http2_prior_knowledge): the protocol of a
  // connection is chosen.
  void chose_h2(ProtocolSwitch& from, std::unique_ptr<io::Stream> stream,
                std::span<std::uint8_t> first) override;
  void chose_http1(ProtocolSwitch& from, io::Stream::Released connection,
                   std::string first) override;
  void switch_failed(ProtocolSwitch& from, std::string_view reason) override;
  // H2ServerConnection::Owner
  void release(H2ServerConnection& connection) noexcept override;
  // The switch is done: out of the list, its address slot moved to `successor` (if any).
  void end_switch(ProtocolSwitch& from, const void* successor) noexcept;
  void unlink(session::Session& session) noexcept;
  // Frees a session of this worker: a TCP one goes back to session_blocks_.
  void destroy(session::Session& session) noexcept;
  void destroy_all() noexcept;
  void connection_gone() noexcept;  // a connection of any kind is destroyed
  bool no_connections() const noexcept;
  void drop_polling_connections();

  ServerShared& shared_;
  // The TCP sessions (HTTP/1.1 upgrades): an idle connection's whole footprint is one of these
  // blocks, with no malloc header and no hole beside it (block_pool.hpp). Declared first: it
  // outlives every session (destroy_all() runs in the destructor's body).
  session::BlockPool session_blocks_{sizeof(session::TcpSession), alignof(session::TcpSession)};
  io::EventLoop loop_;
  session::TopicRegistry topics_;
  session::BudgetLedger budget_;
  session::ConnectionMetrics metrics_;  // this thread's counts of the server's wsx_ metrics
  std::vector<std::unique_ptr<io::Listener>> listeners_;
  PollHub poll_hub_;
  session::Session* sessions_ = nullptr;  // intrusive list through owner_prev / owner_next
  std::size_t polling_sessions_ = 0;      // of sessions_, those on long polling
  // ServerOptions::http2 / http2_prior_knowledge: connections whose protocol is not chosen yet
  // (ALPN, or the first bytes on plain TCP), and the HTTP/2 connections (intrusive lists).
  ProtocolSwitch* switches_ = nullptr;
  H2ServerConnection* h2_connections_ = nullptr;
  // The per-address slots of the connections that count against a client's limit (not
  // exempt), kept here rather than in every Session: an idle session's size is what a client
  // costs. Keyed by the Session, ProtocolSwitch or H2ServerConnection.
  std::unordered_map<const void*, AddressSlot> address_slots_;
  bool stopping_ = false;
  io::TimerId shutdown_timer_ = 0;
};

}  // namespace wsx::server
