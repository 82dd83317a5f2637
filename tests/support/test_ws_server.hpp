// A small in-process WebSocket server for client tests, built from the protocol core and the
// session layer (not from wsx::Server), so client tests control exactly what the server does:
// echo, choose a subprotocol, negotiate permessage-deflate, refuse with a status, never answer,
// answer with raw bytes, or drop connections.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "session/session.hpp"
#include "session/tcp_carrier.hpp"
#include "wsx/io/listener.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::test {

struct TestServerOptions {
  std::vector<std::string> subprotocols;
  std::optional<proto::DeflateServerOptions> deflate;
  std::optional<proto::HttpResponse> refuse;  // answer every upgrade with this
  std::optional<std::string> raw_response;    // answer with these bytes instead of a 101
  // Per request: bytes to answer with instead of a 101 (a redirect, ...), or nullopt to go on.
  std::function<std::optional<std::string>(const std::string& request_head)> respond;
  bool silent = false;  // accept TCP, never answer the handshake
  std::optional<io::TlsServerOptions> tls;
  bool ipv6 = false;
};

class TestServer final : public session::SessionOwner {
 public:
  TestServer(io::EventLoop& loop, TestServerOptions options)
      : loop_(loop),
        options_(std::move(options)),
        listener_(loop, [this](io::TcpSocket socket, const io::SocketAddress&) {
          accept(std::move(socket));
        }) {
    if (options_.tls) tls_ = io::TlsContext::server(*options_.tls);
    // By default: echo every message as it came.
    config_.handlers.message = [this](WebSocket& ws, Message message) {
      ++messages;
      last_subprotocol = std::string(ws.subprotocol());
      last_compressed = ws.compressed();
      if (on_message) {
        on_message(ws, message);
      } else {
        ws.send(message.data, message.kind);
      }
    };
    config_.handlers.open = [this](WebSocket& ws) {
      ++opened;
      if (on_open) on_open(ws);
    };
    config_.handlers.close = [this](WebSocket&, const CloseInfo& info) {
      ++closed;
      close_codes.push_back(info.code);
      last_close_code = info.code;
      last_close_reason = std::string(info.reason);
    };
    const io::SocketAddress address =
        options_.ipv6 ? io::SocketAddress::ipv6_loopback(0) : io::SocketAddress::ipv4_loopback(0);
    const std::error_code error = listener_.listen(address);
    if (error) throw std::runtime_error("test server: listen: " + error.message());
  }

  ~TestServer() {
    for (session::Session* session : sessions_) delete session;
  }

  std::uint16_t port() const { return listener_.local_address().port(); }
  std::string url(std::string_view path = "/") const {
    std::string scheme = options_.tls ? "wss://" : "ws://";
    std::string host = options_.ipv6 ? "[::1]" : "127.0.0.1";
    return scheme + host + ":" + std::to_string(port()) + std::string(path);
  }
  // Drops every connection without a closing handshake.
  void drop_all() {
    const std::list<session::Session*> sessions = sessions_;  // terminate() may release at once
    for (session::Session* session : sessions) session->terminate();
  }
  void stop_listening() { listener_.close(); }

  void release(session::Session& session) noexcept override {
    sessions_.remove(&session);
    delete &session;
  }

  std::function<void(WebSocket&)> on_open;
  std::function<void(WebSocket&, Message)> on_message;
  int accepted = 0;
  int opened = 0;
  int messages = 0;
  int closed = 0;
  std::uint16_t last_close_code = 0;
  std::vector<std::uint16_t> close_codes;  // of every connection, in order
  std::string last_close_reason;
  std::string last_subprotocol;
  bool last_compressed = false;
  std::string last_request;  // the head of the last upgrade request

 private:
  class Upgrade final : public session::Handshake {
   public:
    explicit Upgrade(TestServer& server) : server_(server) {}
    void on_data(session::Session& session, std::span<std::uint8_t> data) override {
      if (server_.options_.silent) return;
      buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
      const proto::HttpParseStatus status = parser_.parse(buffer_.data(), buffer_.size());
      if (status == proto::HttpParseStatus::need_more) return;
      if (status == proto::HttpParseStatus::error) {
        session.abort();
        return;
      }
      server_.last_request = buffer_.substr(0, parser_.head_size());
      if (server_.options_.raw_response) {
        session.write_raw(*server_.options_.raw_response);
        session.reject();
        return;
      }
      if (server_.options_.respond) {
        if (const auto answer = server_.options_.respond(server_.last_request)) {
          session.write_raw(*answer);
          session.reject();
          return;
        }
      }
      const proto::UpgradeCheck check = proto::check_upgrade_request(parser_.head());
      if (check.error != proto::UpgradeError::none) {
        session.write_raw(proto::serialize(check.rejection));
        session.reject();
        return;
      }
      if (server_.options_.refuse) {
        session.write_raw(proto::serialize(*server_.options_.refuse));
        session.reject();
        return;
      }
      proto::AcceptOptions accept;
      accept.subprotocols = server_.options_.subprotocols;
      accept.deflate = server_.options_.deflate;
      proto::Accepted answer = proto::accept_upgrade(*check.request, accept);
      session.write_raw(answer.response);
      session::OpenParams params;
      params.role = proto::Role::server;
      params.deflate = answer.deflate;
      params.subprotocol = answer.subprotocol.value_or("");
      auto* rest = reinterpret_cast<std::uint8_t*>(buffer_.data()) + parser_.head_size();
      session.open(std::move(params), {rest, buffer_.size() - parser_.head_size()});
    }

   private:
    TestServer& server_;
    std::string buffer_;
    proto::HttpHeadParser parser_{proto::HttpKind::request};
  };

  void accept(io::TcpSocket socket) {
    ++accepted;
    std::optional<io::TlsSession> tls;
    if (options_.tls) tls.emplace(tls_);
    auto* session = new session::TcpSession(config_, *this, std::make_unique<Upgrade>(*this), loop_,
                                            std::move(socket), std::move(tls));
    if (!session->start(std::chrono::seconds(30))) {
      delete session;
      return;
    }
    sessions_.push_back(session);
  }

  io::EventLoop& loop_;
  TestServerOptions options_;
  io::TlsContext tls_;
  session::SessionConfig config_;
  io::Listener listener_;
  std::list<session::Session*> sessions_;
};

}  // namespace wsx::test
