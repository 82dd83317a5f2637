#include <gtest/gtest.h>

#include "client/reconnect_policy.hpp"
#include "wsx/client.hpp"

namespace wsx {
namespace {

using client_detail::is_transient;
using client_detail::should_reconnect_after_close;

ClientError error_of(ClientErrorKind kind, int status = 0) {
  ClientError error;
  error.kind = kind;
  error.status = status;
  return error;
}

TEST(ClientError, EveryKindIsDescribed) {
  for (int k = 0; k <= static_cast<int>(ClientErrorKind::redirect_failed); ++k) {
    EXPECT_NE(describe(static_cast<ClientErrorKind>(k)), "unknown client error") << k;
  }
  EXPECT_EQ(describe(ClientErrorKind::handshake_refused), "server refused the WebSocket upgrade");
}

TEST(ClientError, NetworkFailuresAreTransient) {
  EXPECT_TRUE(is_transient(error_of(ClientErrorKind::resolve_failed)));
  EXPECT_TRUE(is_transient(error_of(ClientErrorKind::connect_failed)));
  EXPECT_TRUE(is_transient(error_of(ClientErrorKind::connect_timeout)));
  EXPECT_TRUE(is_transient(error_of(ClientErrorKind::handshake_timeout)));
  EXPECT_TRUE(is_transient(error_of(ClientErrorKind::connection_lost)));
}

TEST(ClientError, ProxyFailuresAreRetriedUnlessTheProxyDecided) {
  EXPECT_TRUE(is_transient(error_of(ClientErrorKind::proxy_unreachable)));
  EXPECT_TRUE(is_transient(error_of(ClientErrorKind::proxy_failed)));
  EXPECT_FALSE(is_transient(error_of(ClientErrorKind::redirect_failed, 301)));
  for (int status : {403, 407}) {
    EXPECT_FALSE(is_transient(error_of(ClientErrorKind::proxy_refused, status))) << status;
  }
  for (int status : {502, 503, 504}) {
    EXPECT_TRUE(is_transient(error_of(ClientErrorKind::proxy_refused, status))) << status;
  }
  ClientError socks = error_of(ClientErrorKind::proxy_refused);
  for (int reply = 1; reply <= 8; ++reply) {
    socks.socks_reply = reply;
    // General failure, network/host unreachable, refused, TTL expired may pass; a ruleset, an
    // unsupported command or address type will not.
    const bool expected = reply == 1 || (reply >= 3 && reply <= 6);
    EXPECT_EQ(is_transient(socks), expected) << reply;
  }
  EXPECT_FALSE(is_transient(error_of(ClientErrorKind::proxy_refused)));  // method refused
}

TEST(ClientError, DecisionsAndBrokenPeersAreNotRetried) {
  EXPECT_FALSE(is_transient(error_of(ClientErrorKind::tls_failed)));
  EXPECT_FALSE(is_transient(error_of(ClientErrorKind::handshake_invalid)));
  for (int status : {400, 401, 403, 404, 426}) {
    EXPECT_FALSE(is_transient(error_of(ClientErrorKind::handshake_refused, status))) << status;
  }
  for (int status : {408, 429, 500, 502, 503, 504}) {
    EXPECT_TRUE(is_transient(error_of(ClientErrorKind::handshake_refused, status))) << status;
  }
}

TEST(ClientError, ReconnectAfterDropsAndInvitationsOnly) {
  EXPECT_TRUE(should_reconnect_after_close(1006, false));
  EXPECT_TRUE(should_reconnect_after_close(1002, false));  // the peer broke a rule
  EXPECT_TRUE(should_reconnect_after_close(1001, true));
  for (std::uint16_t code = 1011; code <= 1014; ++code) {
    EXPECT_TRUE(should_reconnect_after_close(code, true)) << code;
  }
  EXPECT_FALSE(should_reconnect_after_close(1000, true));
  EXPECT_FALSE(should_reconnect_after_close(1008, true));
  EXPECT_FALSE(should_reconnect_after_close(4000, true));
  EXPECT_FALSE(should_reconnect_after_close(1005, true));
}

}  // namespace
}  // namespace wsx
