// wsx::CsrfTokens, the public type: secrets, the clock, rotation, threads.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "wsx/csrf.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using Clock = CsrfTokens::Clock;

const std::vector<std::uint8_t> secret_a(32, 1);
const std::vector<std::uint8_t> secret_b(32, 2);
const Clock::time_point t0 = Clock::time_point(std::chrono::seconds(1'800'000'000));

TEST(CsrfTokens, IssuedTokenVerifiesForItsSessionOnly) {
  const CsrfTokens tokens(secret_a);
  const std::string token = tokens.issue("cookie-value", t0);
  EXPECT_EQ(tokens.verify(token, "cookie-value", t0 + 10s), CsrfVerdict::valid);
  EXPECT_EQ(tokens.verify(token, "another-cookie", t0 + 10s), CsrfVerdict::other_session);
  EXPECT_EQ(tokens.verify("", "cookie-value", t0), CsrfVerdict::missing);
  EXPECT_EQ(tokens.verify("not a token", "cookie-value", t0), CsrfVerdict::malformed);
  // The current time by default.
  EXPECT_EQ(tokens.verify(tokens.issue("s"), "s"), CsrfVerdict::valid);
}

TEST(CsrfTokens, ExpiresAfterTheLifetimeOfOneHourByDefault) {
  const CsrfTokens tokens(secret_a);
  EXPECT_EQ(tokens.lifetime(), 1h);
  const std::string token = tokens.issue("s", t0);
  EXPECT_EQ(tokens.verify(token, "s", t0 + 1h - 1s), CsrfVerdict::valid);
  EXPECT_EQ(tokens.verify(token, "s", t0 + 1h), CsrfVerdict::expired);
  const CsrfTokens short_lived(secret_a, 5min);
  EXPECT_EQ(short_lived.verify(short_lived.issue("s", t0), "s", t0 + 5min), CsrfVerdict::expired);
}

TEST(CsrfTokens, TokensOfAnotherSecretAreForged) {
  const CsrfTokens ours(secret_a);
  const CsrfTokens theirs(secret_b);
  EXPECT_EQ(ours.verify(theirs.issue("s", t0), "s", t0), CsrfVerdict::forged);
  // Two generated secrets differ.
  const CsrfTokens one = CsrfTokens::generate();
  const CsrfTokens two = CsrfTokens::generate();
  EXPECT_EQ(one.verify(one.issue("s"), "s"), CsrfVerdict::valid);
  EXPECT_EQ(one.verify(two.issue("s"), "s"), CsrfVerdict::forged);
}

TEST(CsrfTokens, RotationKeepsThePreviousSecretsTokensUntilTheyExpire) {
  CsrfTokens tokens(secret_a);
  const std::string before = tokens.issue("s", t0);
  tokens.rotate(secret_b, t0 + 10min);
  const std::string after = tokens.issue("s", t0 + 10min);
  EXPECT_EQ(tokens.verify(before, "s", t0 + 20min), CsrfVerdict::valid);
  EXPECT_EQ(tokens.verify(after, "s", t0 + 20min), CsrfVerdict::valid);
  EXPECT_EQ(tokens.verify(before, "s", t0 + 1h), CsrfVerdict::expired);
  EXPECT_EQ(CsrfTokens(secret_b).verify(after, "s", t0 + 20min), CsrfVerdict::valid);
  // A second rotation forgets the first secret.
  tokens.rotate(std::vector<std::uint8_t>(32, 3), t0 + 15min);
  EXPECT_EQ(tokens.verify(before, "s", t0 + 20min), CsrfVerdict::forged);
  EXPECT_EQ(tokens.verify(after, "s", t0 + 20min), CsrfVerdict::valid);
}

TEST(CsrfTokens, SecretsShorterThan32BytesAreRefused) {
  EXPECT_THROW(CsrfTokens(std::vector<std::uint8_t>(31, 1)), std::invalid_argument);
  EXPECT_THROW(CsrfTokens(std::vector<std::uint8_t>{}), std::invalid_argument);
  EXPECT_NO_THROW(CsrfTokens(std::vector<std::uint8_t>(32, 1)));
  EXPECT_THROW(CsrfTokens(secret_a, 0s), std::invalid_argument);
  CsrfTokens tokens(secret_a);
  EXPECT_THROW(tokens.rotate(std::vector<std::uint8_t>(16, 1)), std::invalid_argument);
  EXPECT_EQ(tokens.verify(tokens.issue("s", t0), "s", t0), CsrfVerdict::valid);  // unchanged
}

TEST(CsrfTokens, TokensAreUniqueAndFitASubprotocolName) {
  const CsrfTokens tokens(secret_a);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string token = tokens.issue("s", t0);
    ASSERT_EQ(token.size(), 96u);
    ASSERT_EQ(
        token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    seen.insert(token);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(CsrfTokens, VerifyWhileAnotherThreadRotates) {
  CsrfTokens tokens(secret_a);
  const std::string token = tokens.issue("s", t0);
  std::thread rotator([&] {
    for (int i = 0; i < 200; ++i) {
      tokens.rotate(i % 2 == 0 ? secret_b : secret_a, t0 + 1s);
    }
  });
  for (int i = 0; i < 200; ++i) {
    const CsrfVerdict verdict = tokens.verify(token, "s", t0 + 2s);
    // Sealed with secret_a: valid while it is current or previous, which it always is here.
    EXPECT_EQ(verdict, CsrfVerdict::valid);
  }
  rotator.join();
}

TEST(CsrfTokens, VerdictsHaveShortDescriptions) {
  EXPECT_EQ(describe(CsrfVerdict::forged), "csrf token forged");
  EXPECT_EQ(describe(CsrfVerdict::other_session), "csrf token of another session");
  EXPECT_EQ(describe(CsrfVerdict::missing), "csrf token missing");
}

}  // namespace
}  // namespace wsx
