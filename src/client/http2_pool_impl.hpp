// What an Http2Pool holds: its HTTP/2 connections by origin key, each owned here until it
// closes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "h2_client_connection.hpp"
#include "wsx/client.hpp"

namespace wsx {

struct Http2Pool::Impl final : client_detail::H2ClientConnection::Owner {
  explicit Impl(io::EventLoop& event_loop) : loop(event_loop) {}
  ~Impl();

  // A connection for `key` that takes another stream, or null.
  client_detail::H2ClientConnection* find(const std::string& key) noexcept;
  client_detail::H2ClientConnection& open(io::TcpSocket socket, io::TlsSession tls,
                                          const std::string& key, std::string remote,
                                          std::chrono::milliseconds timeout);
  void connection_closed(client_detail::H2ClientConnection& connection) noexcept override;

  io::EventLoop& loop;
  std::vector<std::unique_ptr<client_detail::H2ClientConnection>> connections;
  std::size_t opened = 0;
};

}  // namespace wsx
