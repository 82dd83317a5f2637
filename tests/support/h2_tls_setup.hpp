// TLS setup shared by the HTTP/2 tests: a wsx::Server with the test certificate (TLS, so ALPN
// can offer h2), a client context that trusts only the test CA and offers the given ALPN
// protocols, and a small HTTP/2 server on a test's own loop (H2LoopServer) for client tests
// that need a server doing what wsx's does not (no extended CONNECT, an early GOAWAY).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "h2/h2_connection.hpp"
#include "test_certs.hpp"
#include "test_tls_options.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/listener.hpp"
#include "wsx/io/stream.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/server.hpp"

namespace wsx::test {

// One server thread, TLS with the test certificate, HTTP/2 offered by ALPN or not.
inline ServerOptions h2_tls_server_options(bool http2 = true) {
  const TestPki& pki = test_pki();
  ServerOptions options;
  options.threads = 1;
  options.tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                 .private_key_file = pki.server_key};
  options.http2 = http2;
  return options;
}

// A client context for RawWsClient::use_tls: the test CA only, `alpn` offered.
inline io::TlsContext h2_client_tls(std::vector<std::string> alpn = {"h2"}) {
  io::TlsClientOptions options;
  trust_test_ca_only(options);
  options.alpn = std::move(alpn);
  return io::TlsContext::client(options);
}

// A TLS server on the test's loop whose connections each run an h2::H2Connection. The hooks say
// what a connection does: secured() once its TLS handshake chose `alpn` (return false to close
// it), started() once its H2Connection exists, answer() for each request. Loop thread only.
class H2LoopServer {
 public:
  struct Connection;
  H2LoopServer(io::EventLoop& loop, std::vector<std::string> alpn)
      : listener_(loop, [this, &loop](io::TcpSocket socket, const io::SocketAddress&) {
          connections_.push_back(std::make_unique<Connection>(*this, loop, std::move(socket)));
        }) {
    io::TlsServerOptions options = test_server_tls();
    options.alpn = std::move(alpn);
    tls_ = io::TlsContext::server(options);
    listening_ = !listener_.listen(io::SocketAddress::ipv4_loopback(0));
  }
  virtual ~H2LoopServer() = default;
  H2LoopServer(const H2LoopServer&) = delete;
  H2LoopServer& operator=(const H2LoopServer&) = delete;

  bool listening() const { return listening_; }
  std::uint16_t port() const { return listener_.local_address().port(); }
  int accepted() const { return static_cast<int>(connections_.size()); }

  struct Connection final : io::StreamHandler, h2::H2Handler {
    Connection(H2LoopServer& server, io::EventLoop& loop, io::TcpSocket socket)
        : owner(server),
          stream(loop, std::move(socket), static_cast<io::StreamHandler&>(*this),
                 io::TlsSession(server.tls_)) {}
    void on_stream_secured() override {
      h2::H2Limits limits;
      if (!owner.secured(*this, stream.tls()->alpn(), limits)) {
        stream.close();
        return;
      }
      h2.emplace(static_cast<h2::H2Handler&>(*this), limits);
      owner.started(*this);
      stream.request_flush();
    }
    void on_request(h2::H2Request& request) override { owner.answer(*this, request); }
    void on_stream_data(std::span<std::uint8_t> data) override {
      if (h2) h2->receive(data);
      stream.request_flush();
    }
    std::size_t gather_output(std::span<io::ConstBuffer> out) override {
      if (!h2 || out.empty()) return 0;
      const auto bytes = h2->output();
      if (bytes.empty()) return 0;
      out[0] = bytes;
      return 1;
    }
    void consume_output(std::size_t n) override { h2->consume_output(n); }
    void on_stream_end() override { stream.close(); }
    void on_stream_error(std::string_view) override {}
    void on_data(std::int32_t id, std::span<const std::uint8_t> data) override {
      h2->consume(id, data.size());
    }
    void on_stream_closed(std::int32_t, std::uint32_t) override {}

    H2LoopServer& owner;
    io::Stream stream;
    std::optional<h2::H2Connection> h2;
  };

 protected:
  // The TLS handshake of `connection` chose `alpn`: false closes it; `limits` may be changed.
  virtual bool secured(Connection& connection, std::string_view alpn, h2::H2Limits& limits) {
    (void)connection;
    (void)limits;
    return alpn == "h2";
  }
  // Its H2Connection exists (our SETTINGS are queued).
  virtual void started(Connection& connection) { (void)connection; }
  virtual void answer(Connection& connection, h2::H2Request& request) {
    (void)connection;
    (void)request;
  }

 private:
  io::TlsContext tls_;
  io::Listener listener_;
  std::vector<std::unique_ptr<Connection>> connections_;
  bool listening_ = false;
};

}  // namespace wsx::test
