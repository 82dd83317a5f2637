// The sans-I/O token: layout, sealing, and the verdicts of check_token with time passed in.
#include "server/csrf_token.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "server/base64url.hpp"

namespace wsx::server::csrf {
namespace {

const std::vector<std::uint8_t> secret_a(32, 0xa5);
const std::vector<std::uint8_t> secret_b(48, 0x5a);
constexpr std::int64_t t0 = 1'800'000'000;  // 2027-01-15
constexpr std::array<std::uint8_t, 16> nonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

KeyRing ring_a() {
  return {.current = secret_a, .lifetime = 3600};
}

TEST(CsrfToken, SealedTokenIsValidForItsSessionUntilItExpires) {
  const std::string token = seal_token(secret_a, "session-1", t0, nonce);
  EXPECT_EQ(token.size(), token_text_size);
  EXPECT_EQ(check_token(token, "session-1", ring_a(), t0), CsrfVerdict::valid);
  EXPECT_EQ(check_token(token, "session-1", ring_a(), t0 + 3599), CsrfVerdict::valid);
  EXPECT_EQ(check_token(token, "session-1", ring_a(), t0 + 3600), CsrfVerdict::expired);
  EXPECT_EQ(check_token(token, "session-2", ring_a(), t0), CsrfVerdict::other_session);
  EXPECT_EQ(check_token(token, "", ring_a(), t0), CsrfVerdict::other_session);
}

TEST(CsrfToken, LayoutRoundTrips) {
  const std::string token = seal_token(secret_a, "s", t0, nonce);
  const std::optional<TokenFields> fields = parse_token(token);
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->version, token_version);
  EXPECT_EQ(fields->issued, t0);
  EXPECT_EQ(fields->nonce, nonce);
  EXPECT_EQ(format_token(*fields), token);
}

TEST(CsrfToken, NoncesMakeEveryTokenDifferent) {
  std::array<std::uint8_t, 16> other = nonce;
  other[15] ^= 1;
  EXPECT_NE(seal_token(secret_a, "s", t0, nonce), seal_token(secret_a, "s", t0, other));
}

TEST(CsrfToken, AnyChangedBitIsAForgery) {
  const std::string token = seal_token(secret_a, "s", t0, nonce);
  std::array<std::uint8_t, token_size> bytes{};
  ASSERT_TRUE(base64url_decode(token, bytes));
  // Every bit after the version byte: the issue time, the nonce, the session tag, the MAC.
  for (std::size_t bit = 8; bit < token_size * 8; ++bit) {
    std::array<std::uint8_t, token_size> changed = bytes;
    changed[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const CsrfVerdict verdict = check_token(base64url_encode(changed), "s", ring_a(), t0);
    // A changed issue time can land before 1970 (malformed) or be checked as forged.
    EXPECT_TRUE(verdict == CsrfVerdict::forged || verdict == CsrfVerdict::malformed) << bit;
  }
  EXPECT_EQ(check_token(seal_token(secret_b, "s", t0, nonce), "s", ring_a(), t0),
            CsrfVerdict::forged);
}

TEST(CsrfToken, FormatGarbageIsMalformed) {
  const std::string token = seal_token(secret_a, "s", t0, nonce);
  EXPECT_EQ(check_token("", "s", ring_a(), t0), CsrfVerdict::missing);
  EXPECT_EQ(check_token("x", "s", ring_a(), t0), CsrfVerdict::malformed);
  EXPECT_EQ(check_token(token.substr(1), "s", ring_a(), t0), CsrfVerdict::malformed);
  EXPECT_EQ(check_token(token + "A", "s", ring_a(), t0), CsrfVerdict::malformed);
  std::string plus = token;
  plus[10] = '+';
  EXPECT_EQ(check_token(plus, "s", ring_a(), t0), CsrfVerdict::malformed);
  std::string padded = token;
  padded.back() = '=';
  EXPECT_EQ(check_token(padded, "s", ring_a(), t0), CsrfVerdict::malformed);
  EXPECT_EQ(check_token(std::string(96, '\0'), "s", ring_a(), t0), CsrfVerdict::malformed);
  // Another version of the layout.
  std::array<std::uint8_t, token_size> bytes{};
  ASSERT_TRUE(base64url_decode(token, bytes));
  bytes[0] = 2;
  EXPECT_EQ(check_token(base64url_encode(bytes), "s", ring_a(), t0), CsrfVerdict::malformed);
}

TEST(CsrfToken, FromTheFutureBeyondTheSkewIsRefused) {
  const std::string token = seal_token(secret_a, "s", t0 + allowed_clock_skew, nonce);
  EXPECT_EQ(check_token(token, "s", ring_a(), t0), CsrfVerdict::valid);
  const std::string later = seal_token(secret_a, "s", t0 + allowed_clock_skew + 1, nonce);
  EXPECT_EQ(check_token(later, "s", ring_a(), t0), CsrfVerdict::not_yet_valid);
}

TEST(CsrfToken, PreviousSecretOnlyForTokensIssuedBeforeTheRotation) {
  const KeyRing rotated{
      .current = secret_b, .previous = secret_a, .rotated_at = t0 + 100, .lifetime = 3600};
  const std::string old_token = seal_token(secret_a, "s", t0, nonce);
  EXPECT_EQ(check_token(old_token, "s", rotated, t0 + 200), CsrfVerdict::valid);
  EXPECT_EQ(check_token(old_token, "s", rotated, t0 + 3600), CsrfVerdict::expired);
  EXPECT_EQ(check_token(old_token, "t", rotated, t0 + 200), CsrfVerdict::other_session);
  // Sealed with the old secret but dated after the rotation: whoever made it has that secret.
  const std::string after = seal_token(secret_a, "s", t0 + 150, nonce);
  EXPECT_EQ(check_token(after, "s", rotated, t0 + 200), CsrfVerdict::forged);
  EXPECT_EQ(check_token(seal_token(secret_b, "s", t0 + 150, nonce), "s", rotated, t0 + 200),
            CsrfVerdict::valid);
}

// The probe stands in for constant_time_equal: it sees every comparison check_token makes.
std::vector<std::size_t> compared_sizes;
bool recording_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  compared_sizes.push_back(a.size());
  return constant_time_equal(a, b);
}
bool always_equal(std::span<const std::uint8_t>, std::span<const std::uint8_t>) {
  return true;
}

TEST(CsrfToken, EveryMacAndTagComparisonGoesThroughTheGivenCompare) {
  const std::string token = seal_token(secret_a, "s", t0, nonce);
  compared_sizes.clear();
  EXPECT_EQ(check_token(token, "s", ring_a(), t0, recording_equal), CsrfVerdict::valid);
  EXPECT_EQ(compared_sizes, (std::vector<std::size_t>{32, 15}));  // the MAC, the session tag
  // With a compare that finds everything equal, a forged token and another session pass: no
  // other comparison (a non-constant-time one) decides on a MAC or a tag.
  const std::string forged = seal_token(secret_b, "t", t0, nonce);
  EXPECT_EQ(check_token(forged, "s", ring_a(), t0), CsrfVerdict::forged);
  EXPECT_EQ(check_token(forged, "s", ring_a(), t0, always_equal), CsrfVerdict::valid);
}

}  // namespace
}  // namespace wsx::server::csrf
