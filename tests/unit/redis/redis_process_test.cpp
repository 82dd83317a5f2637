// The test fixture RedisProcess starts race-free: a port taken between its pick and Redis's
// bind (by another process, in CI by another test) is detected from Redis's exit and log, and
// never mistaken for a Redis of ours.
#include "redis_process.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "test_certs.hpp"

namespace wsx::test {
namespace {

// A foreign listener on a loopback port: it accepts connections and never answers, as a
// server of another test would (an old fixture polling PING over TCP waited on it in vain).
class ForeignListener {
 public:
  explicit ForeignListener(int port = 0) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    const int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
             ::listen(fd_, 16) == 0;
    socklen_t size = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~ForeignListener() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool bound() const { return bound_; }
  int port() const { return port_; }

 private:
  int fd_;
  bool bound_ = false;
  int port_ = 0;
};

TEST(RedisProcess, PicksOtherPortsWhenOneWasTakenBeforeRedisBoundIt) {
  ForeignListener foreign;
  ASSERT_TRUE(foreign.bound());
  int picks = 0;
  RedisProcessOptions options;
  options.pick_port = [&] { return ++picks == 1 ? foreign.port() : free_loopback_port(); };
  RedisProcess redis(options);
  ASSERT_TRUE(redis.ok());
  EXPECT_EQ(redis.launches(), 2);
  EXPECT_NE(redis.port(), foreign.port());
  EXPECT_EQ(redis.command("PING"), "+PONG\r\n");
}

TEST(RedisProcess, TheTlsPortIsRetriedLikeThePlaintextOne) {
  // Redis binds its TLS port after the plaintext one: a taken TLS port is a later failure.
  ForeignListener foreign;
  ASSERT_TRUE(foreign.bound());
  int picks = 0;
  RedisProcessOptions options;
  options.tls = {"--tls-cert-file",     test_pki().server_chain, "--tls-key-file",
                 test_pki().server_key, "--tls-ca-cert-file",    test_pki().ca_certificate};
  options.pick_port = [&] { return ++picks == 2 ? foreign.port() : free_loopback_port(); };
  RedisProcess redis(options);
  ASSERT_TRUE(redis.ok());
  EXPECT_EQ(redis.launches(), 2);
  EXPECT_NE(redis.tls_port(), foreign.port());
  EXPECT_NE(redis.tls_port(), 0);
}

TEST(RedisProcess, ARestartWaitsForItsPortToBeFreeAgain) {
  RedisProcessOptions options;
  ForeignListener* squatter = nullptr;
  // The squatter leaves once Redis found the port taken: the restart must then try again.
  options.on_port_taken = [&] {
    if (squatter != nullptr) squatter->close();
  };
  RedisProcess redis(options);
  ASSERT_TRUE(redis.ok());
  const int port = redis.port();
  redis.kill();
  ForeignListener taken(port);
  ASSERT_TRUE(taken.bound());
  squatter = &taken;
  const int before = redis.launches();
  redis.start();
  ASSERT_TRUE(redis.ok());
  EXPECT_EQ(redis.port(), port);
  EXPECT_EQ(redis.launches(), before + 2);
  EXPECT_EQ(redis.command("PING"), "+PONG\r\n");
}

}  // namespace
}  // namespace wsx::test
