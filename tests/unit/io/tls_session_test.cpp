#include "wsx/io/tls_session.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "loop_watchdog.hpp"
#include "test_certs.hpp"
#include "wsx/io/connector.hpp"
#include "wsx/io/listener.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

TlsServerOptions server_options() {
  TlsServerOptions options;
  options.certificate_chain_file = test::test_pki().server_chain;
  options.private_key_file = test::test_pki().server_key;
  return options;
}

TlsClientOptions trusting_test_ca() {
  TlsClientOptions options;
  options.ca_file = test::test_pki().ca_certificate;
  options.use_system_ca = false;
  return options;
}

// Everything each side has read, and whether it saw close_notify.
struct Received {
  std::string plaintext;
  bool closed = false;
};

void drain(TlsSession& session, Received& received) {
  std::uint8_t buffer[16384];
  for (;;) {
    const TlsReadResult result = session.read(buffer);
    if (result.status == TlsReadStatus::ok) {
      received.plaintext.append(reinterpret_cast<const char*>(buffer), result.bytes);
      continue;
    }
    if (result.status == TlsReadStatus::closed) received.closed = true;
    return;
  }
}

// Moves ciphertext both ways until neither side has anything to say; feeds in odd-sized
// pieces so records arrive split.
void pump(TlsSession& client, TlsSession& server, Received& at_client, Received& at_server) {
  for (int round = 0; round < 1000; ++round) {
    bool moved = false;
    for (auto [from, to, received] :
         {std::tuple{&client, &server, &at_server}, std::tuple{&server, &client, &at_client}}) {
      while (!from->pending_output().empty()) {
        const auto piece = from->pending_output().first(
            std::min<std::size_t>(from->pending_output().size(), 1000 + round));
        to->feed(piece);
        from->consume_output(piece.size());
        moved = true;
        drain(*to, *received);
      }
    }
    if (!moved) return;
  }
  ADD_FAILURE() << "TLS sessions kept talking";
}

struct Handshake {
  explicit Handshake(const TlsClientOptions& client_options, std::string_view name = "localhost",
                     const TlsServerOptions& server_opts = server_options())
      : server_context(TlsContext::server(server_opts)),
        client_context(TlsContext::client(client_options)),
        server(server_context),
        client(client_context, name) {
    EXPECT_TRUE(server_context.ok()) << server_context.error();
    EXPECT_TRUE(client_context.ok()) << client_context.error();
    pump(client, server, at_client, at_server);
  }
  TlsContext server_context;
  TlsContext client_context;
  TlsSession server;
  TlsSession client;
  Received at_client;
  Received at_server;
};

TEST(TlsSession, HandshakeInMemoryNegotiatesTls13AndHttp11) {
  Handshake h(trusting_test_ca());
  ASSERT_EQ(h.client.state(), TlsState::open) << h.client.error();
  ASSERT_EQ(h.server.state(), TlsState::open) << h.server.error();
  EXPECT_TRUE(h.client.handshake_done());
  EXPECT_EQ(h.client.alpn(), "http/1.1");
  EXPECT_EQ(h.server.alpn(), "http/1.1");
  EXPECT_EQ(h.client.version(), "TLSv1.3");
  EXPECT_TRUE(h.client.peer_certificate_present());
  EXPECT_NE(h.client.peer_subject().find("localhost"), std::string::npos);
  EXPECT_FALSE(h.server.peer_certificate_present());
  EXPECT_TRUE(h.client.error().empty());
}

// Session tickets the client receives after a TLS 1.3 handshake, counted by OpenSSL's
// new-session callback on the client's context (which keeps none of them).
int tickets_received = 0;

int count_ticket(SSL*, SSL_SESSION*) {
  ++tickets_received;
  return 0;  // not kept: OpenSSL frees it
}

int tickets_after_handshake(const TlsServerOptions& server) {
  tickets_received = 0;
  const TlsClientOptions client = trusting_test_ca();
  TlsContext client_context = TlsContext::client(client);
  auto* ctx = static_cast<SSL_CTX*>(client_context.native_handle());
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, count_ticket);
  TlsContext server_context = TlsContext::server(server);
  TlsSession server_session(server_context);
  TlsSession client_session(client_context, "localhost");
  Received at_client;
  Received at_server;
  pump(client_session, server_session, at_client, at_server);
  EXPECT_EQ(client_session.version(), "TLSv1.3");
  EXPECT_EQ(client_session.state(), TlsState::open) << client_session.error();
  return tickets_received;
}

// One ticket per handshake by default (OpenSSL's is two): enough for a client that reconnects.
TEST(TlsSession, ServerSendsOneSessionTicketByDefault) {
  EXPECT_EQ(tickets_after_handshake(server_options()), 1);
  TlsServerOptions three = server_options();
  three.session_tickets = 3;
  EXPECT_EQ(tickets_after_handshake(three), 3);
  TlsServerOptions none = server_options();
  none.session_tickets = 0;
  EXPECT_EQ(tickets_after_handshake(none), 0);
}

TEST(TlsSession, DataFlowsBothWaysAndCloseNotifyArrives) {
  Handshake h(trusting_test_ca());
  ASSERT_EQ(h.client.state(), TlsState::open);
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  EXPECT_TRUE(h.client.write("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(h.server.write(big));
  pump(h.client, h.server, h.at_client, h.at_server);
  EXPECT_EQ(h.at_server.plaintext, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(h.at_client.plaintext, big);
  h.client.close();
  EXPECT_FALSE(h.client.write("after close"));
  pump(h.client, h.server, h.at_client, h.at_server);
  EXPECT_TRUE(h.at_server.closed);
  EXPECT_EQ(h.server.state(), TlsState::closed);
  // Half-closed: the server may still answer, then close too.
  EXPECT_TRUE(h.server.write("bye"));
  h.server.close();
  pump(h.client, h.server, h.at_client, h.at_server);
  EXPECT_EQ(h.at_client.plaintext.substr(big.size()), "bye");
  EXPECT_TRUE(h.at_client.closed);
}

TEST(TlsSession, PlaintextWrittenBeforeTheHandshakeIsHeldThenSent) {
  const TlsContext server_context = TlsContext::server(server_options());
  const TlsContext client_context = TlsContext::client(trusting_test_ca());
  TlsSession server(server_context);
  TlsSession client(client_context, "localhost");
  EXPECT_FALSE(client.pending_output().empty());  // the ClientHello, at once
  EXPECT_TRUE(client.write("early request"));
  EXPECT_EQ(client.plaintext_held(), 13u);
  Received at_client, at_server;
  pump(client, server, at_client, at_server);
  EXPECT_EQ(client.plaintext_held(), 0u);
  EXPECT_EQ(at_server.plaintext, "early request");
}

TEST(TlsSession, IpLiteralsAreCheckedAgainstTheCertificatesAddresses) {
  for (const char* name : {"127.0.0.1", "::1", "[::1]"}) {
    Handshake h(trusting_test_ca(), name);
    EXPECT_EQ(h.client.state(), TlsState::open) << name << ": " << h.client.error();
  }
  Handshake wrong(trusting_test_ca(), "127.0.0.2");
  EXPECT_EQ(wrong.client.state(), TlsState::failed);
  EXPECT_NE(wrong.client.error().find("IP address mismatch (127.0.0.2 is not among the "
                                      "certificate's subjectAltName IP addresses)"),
            std::string::npos)
      << wrong.client.error();
}

TEST(TlsSession, WrongHostNameFailsWithAClearReason) {
  Handshake h(trusting_test_ca(), "example.com");
  EXPECT_EQ(h.client.state(), TlsState::failed);
  EXPECT_EQ(h.client.error(),
            "certificate verify failed: hostname mismatch (example.com is not among the "
            "certificate's subjectAltName DNS names; its subject CN is not used)");
  // The client's alert tells the server why.
  EXPECT_EQ(h.server.state(), TlsState::failed);
  EXPECT_NE(h.server.error().find("alert"), std::string::npos) << h.server.error();
  EXPECT_FALSE(h.client.write("x"));
  std::uint8_t buffer[16];
  EXPECT_EQ(h.client.read(buffer).status, TlsReadStatus::failed);
}

// A trusted certificate whose only mention of localhost is its subject CN: OpenSSL's default
// check falls back to the CN, browsers do not (RFC 6125 §6.4.4). Only subjectAltName counts.
TEST(TlsSession, AHostNamedOnlyInTheSubjectCnIsAMismatch) {
  const test::TestPki& pki = test::test_pki();
  for (const std::string& chain : {pki.cn_only_server_chain, pki.cn_and_ip_server_chain}) {
    TlsServerOptions cn_only = server_options();
    cn_only.certificate_chain_file = chain;
    cn_only.private_key_file = pki.cn_only_server_key;
    Handshake h(trusting_test_ca(), "localhost", cn_only);
    EXPECT_EQ(h.client.state(), TlsState::failed) << chain;
    EXPECT_NE(h.client.error().find("hostname mismatch (localhost is not among the "
                                    "certificate's subjectAltName DNS names"),
              std::string::npos)
        << chain << ": " << h.client.error();
  }
  // The same CA and CN with the name in subjectAltName: accepted.
  Handshake with_san(trusting_test_ca(), "localhost");
  EXPECT_EQ(with_san.client.state(), TlsState::open) << with_san.client.error();
  // An address is matched against subjectAltName's IP entries.
  TlsServerOptions ip_only = server_options();
  ip_only.certificate_chain_file = pki.cn_and_ip_server_chain;
  ip_only.private_key_file = pki.cn_only_server_key;
  Handshake by_address(trusting_test_ca(), "127.0.0.1", ip_only);
  EXPECT_EQ(by_address.client.state(), TlsState::open) << by_address.client.error();
}

TEST(TlsSession, UnknownCertificateAuthorityFails) {
  TlsServerOptions other = server_options();
  other.certificate_chain_file = test::test_pki().other_server_chain;
  other.private_key_file = test::test_pki().other_server_key;
  Handshake h(trusting_test_ca(), "localhost", other);
  EXPECT_EQ(h.client.state(), TlsState::failed);
  EXPECT_NE(h.client.error().find("unable to get local issuer certificate"), std::string::npos)
      << h.client.error();
  EXPECT_NE(h.server.error().find("unknown ca"), std::string::npos) << h.server.error();
}

TEST(TlsSession, SystemStoreDoesNotTrustTheTestCa) {
  Handshake h(TlsClientOptions{}, "localhost");
  EXPECT_EQ(h.client.state(), TlsState::failed);
  EXPECT_NE(h.client.error().find("certificate verify failed"), std::string::npos);
}

TEST(TlsSession, InsecureOptOutAcceptsAnyCertificate) {
  TlsServerOptions other = server_options();
  other.certificate_chain_file = test::test_pki().other_server_chain;
  other.private_key_file = test::test_pki().other_server_key;
  TlsClientOptions insecure;
  insecure.insecure_skip_verify = true;
  Handshake h(insecure, "example.com", other);
  EXPECT_EQ(h.client.state(), TlsState::open) << h.client.error();
  Handshake no_name(insecure, "");
  EXPECT_EQ(no_name.client.state(), TlsState::open) << no_name.client.error();
}

TEST(TlsSession, VerifyingClientNeedsAServerName) {
  Handshake h(trusting_test_ca(), "");
  EXPECT_EQ(h.client.state(), TlsState::failed);
  EXPECT_NE(h.client.error().find("server name"), std::string::npos);
}

TEST(TlsSession, ClientCertificateIsPresentedAndVerified) {
  TlsServerOptions requiring = server_options();
  requiring.client_ca_file = test::test_pki().ca_certificate;
  requiring.require_client_certificate = true;
  TlsClientOptions with_certificate = trusting_test_ca();
  with_certificate.certificate_chain_file = test::test_pki().client_chain;
  with_certificate.private_key_file = test::test_pki().client_key;
  Handshake h(with_certificate, "localhost", requiring);
  ASSERT_EQ(h.server.state(), TlsState::open) << h.server.error();
  ASSERT_EQ(h.client.state(), TlsState::open) << h.client.error();
  EXPECT_TRUE(h.server.peer_certificate_present());
  EXPECT_EQ(h.server.peer_subject(), "CN = wsx test client");
}

TEST(TlsSession, MissingRequiredClientCertificateFails) {
  TlsServerOptions requiring = server_options();
  requiring.client_ca_file = test::test_pki().ca_certificate;
  requiring.require_client_certificate = true;
  Handshake h(trusting_test_ca(), "localhost", requiring);
  EXPECT_EQ(h.server.state(), TlsState::failed);
  EXPECT_NE(h.server.error().find("certificate"), std::string::npos) << h.server.error();
  // TLS 1.3: the client learns when it next reads.
  std::uint8_t buffer[16];
  EXPECT_EQ(h.client.read(buffer).status, TlsReadStatus::failed);
  EXPECT_NE(h.client.error().find("alert"), std::string::npos) << h.client.error();
}

TEST(TlsSession, NoCommonAlpnProtocolMeansNoAlpn) {
  TlsClientOptions h2_only = trusting_test_ca();
  h2_only.alpn = {"h2"};
  Handshake h(h2_only);
  ASSERT_EQ(h.client.state(), TlsState::open) << h.client.error();
  EXPECT_EQ(h.client.alpn(), "");
}

TEST(TlsSession, GarbageFromThePeerFailsCleanly) {
  const TlsContext server_context = TlsContext::server(server_options());
  TlsSession server(server_context);
  const std::string garbage = "GET / HTTP/1.1\r\nHost: plain-text-on-a-tls-port\r\n\r\n";
  server.feed(bytes(garbage));
  EXPECT_EQ(server.state(), TlsState::failed);
  EXPECT_FALSE(server.error().empty());
  server.feed(bytes(garbage));  // ignored after failure
  std::uint8_t buffer[16];
  EXPECT_EQ(server.read(buffer).status, TlsReadStatus::failed);
}

TEST(TlsSession, WrongContextRoleOrEmptyContextFails) {
  const TlsContext client_context = TlsContext::client(trusting_test_ca());
  TlsSession server_with_client_context(client_context);
  EXPECT_EQ(server_with_client_context.state(), TlsState::failed);
  TlsSession empty{TlsContext{}};
  EXPECT_EQ(empty.state(), TlsState::failed);
  EXPECT_FALSE(empty.write("x"));
  empty.feed(bytes("x"));
  empty.close();
  EXPECT_TRUE(empty.pending_output().empty());
  EXPECT_EQ(empty.alpn(), "");
  EXPECT_EQ(empty.peer_subject(), "");
}

TEST(TlsSession, ContextMayBeDestroyedBeforeItsSessions) {
  auto server_context = std::make_unique<TlsContext>(TlsContext::server(server_options()));
  auto client_context = std::make_unique<TlsContext>(TlsContext::client(trusting_test_ca()));
  TlsSession server(*server_context);
  TlsSession client(*client_context, "localhost");
  server_context.reset();
  client_context.reset();
  Received at_client, at_server;
  pump(client, server, at_client, at_server);
  EXPECT_EQ(client.state(), TlsState::open) << client.error();
  EXPECT_EQ(client.alpn(), "http/1.1");  // the server's ALPN list is still alive
}

// TLS over a real loopback connection: socket bytes go through the session both ways.
class TlsPeer final : public IoHandler {
 public:
  TlsPeer(EventLoop& loop, TcpSocket socket, TlsSession session, std::string to_send,
          std::size_t expect)
      : loop_(loop), socket_(std::move(socket)), tls_(std::move(session)), expect_(expect) {
    EXPECT_FALSE(loop_.add(socket_.fd(), Interest::read, *this));
    EXPECT_TRUE(tls_.write(to_send));
    loop_.defer_flush(socket_.fd());
  }
  ~TlsPeer() { loop_.remove(socket_.fd()); }

  void on_readable() override {
    std::uint8_t buffer[32768];
    const IoResult result = socket_.read(buffer);
    if (result.status == IoStatus::ok) {
      tls_.feed({buffer, result.bytes});
      std::uint8_t plain[32768];
      for (;;) {
        const TlsReadResult got = tls_.read(plain);
        if (got.status != TlsReadStatus::ok) {
          if (got.status == TlsReadStatus::failed) ADD_FAILURE() << tls_.error();
          if (got.status == TlsReadStatus::closed) peer_closed = true;
          break;
        }
        received.append(reinterpret_cast<const char*>(plain), got.bytes);
      }
      if (received.size() >= expect_ && !closing_) {
        closing_ = true;
        tls_.close();
      }
    } else if (result.status != IoStatus::would_block) {
      loop_.modify(socket_.fd(), Interest::none);
    }
    loop_.defer_flush(socket_.fd());
  }
  void on_writable() override { on_flush(); }
  void on_flush() override {
    while (!tls_.pending_output().empty()) {
      const IoResult result = socket_.write(tls_.pending_output());
      if (result.status != IoStatus::ok) break;
      tls_.consume_output(result.bytes);
    }
    const Interest interest = tls_.pending_output().empty() ? Interest::read : Interest::read_write;
    loop_.modify(socket_.fd(), interest);
  }

  std::string received;
  bool peer_closed = false;
  const TlsSession& tls() const { return tls_; }

 private:
  EventLoop& loop_;
  TcpSocket socket_;
  TlsSession tls_;
  std::size_t expect_;
  bool closing_ = false;
};

TEST(TlsSession, OverLoopbackTcpMovesDataBothWays) {
  EventLoop loop;
  test::arm_watchdog(loop, 20s);
  const TlsContext server_context = TlsContext::server(server_options());
  const TlsContext client_context = TlsContext::client(trusting_test_ca());
  std::string from_client(3 << 20, 'c');
  std::string from_server(2 << 20, 's');
  for (std::size_t i = 0; i < from_client.size(); i += 4096) from_client[i] = static_cast<char>(i);
  for (std::size_t i = 0; i < from_server.size(); i += 4096) from_server[i] = static_cast<char>(i);
  std::unique_ptr<TlsPeer> server, client;
  auto check_done = [&] {
    if (server && client && server->peer_closed && client->peer_closed) loop.stop();
  };
  loop.run_every(5ms, check_done);
  Listener listener(loop, [&](TcpSocket socket, const SocketAddress&) {
    server = std::make_unique<TlsPeer>(loop, std::move(socket), TlsSession(server_context),
                                       from_server, from_client.size());
  });
  ASSERT_FALSE(listener.listen(SocketAddress::ipv4_loopback(0)));
  Connector connector(loop);
  connector.connect(listener.local_address(), [&](TcpSocket socket, std::error_code error) {
    ASSERT_FALSE(error) << error.message();
    client =
        std::make_unique<TlsPeer>(loop, std::move(socket), TlsSession(client_context, "127.0.0.1"),
                                  from_client, from_server.size());
  });
  loop.run();
  ASSERT_TRUE(server && client);
  EXPECT_TRUE(server->received == from_client);
  EXPECT_TRUE(client->received == from_server);
  EXPECT_EQ(client->tls().alpn(), "http/1.1");
  EXPECT_TRUE(server->peer_closed);
  EXPECT_TRUE(client->peer_closed);
}

}  // namespace
}  // namespace wsx::io
