#include "server/csrf_token.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "server/base64url.hpp"

namespace wsx::server::csrf {
namespace {

using Digest = std::array<std::uint8_t, 32>;

constexpr std::string_view session_label{"wsx csrf session\0", 17};
constexpr std::string_view token_label{"wsx csrf token\0", 15};
constexpr std::size_t signed_size = 1 + 8 + 16 + 15;  // what the MAC covers after its label

// HMAC-SHA256(secret, label + message).
Digest hmac(std::span<const std::uint8_t> secret, std::string_view label,
            std::span<const std::uint8_t> message) {
  std::string input(label);
  input.append(reinterpret_cast<const char*>(message.data()), message.size());
  Digest digest{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data(),
           &size) == nullptr ||
      size != digest.size()) {
    throw std::runtime_error("HMAC-SHA256 failed (OpenSSL)");
  }
  return digest;
}

std::array<std::uint8_t, 15> session_tag(std::span<const std::uint8_t> secret,
                                         std::string_view session) {
  const Digest digest =
      hmac(secret, session_label,
           {reinterpret_cast<const std::uint8_t*>(session.data()), session.size()});
  std::array<std::uint8_t, 15> tag{};
  std::memcpy(tag.data(), digest.data(), tag.size());
  return tag;
}

std::array<std::uint8_t, signed_size> signed_bytes(const TokenFields& fields) {
  std::array<std::uint8_t, signed_size> bytes{};
  bytes[0] = fields.version;
  const auto issued = static_cast<std::uint64_t>(fields.issued);
  for (int i = 0; i < 8; ++i) bytes[1 + i] = static_cast<std::uint8_t>(issued >> (56 - 8 * i));
  std::memcpy(bytes.data() + 9, fields.nonce.data(), fields.nonce.size());
  std::memcpy(bytes.data() + 25, fields.session_tag.data(), fields.session_tag.size());
  return bytes;
}

Digest token_mac(std::span<const std::uint8_t> secret, const TokenFields& fields) {
  return hmac(secret, token_label, signed_bytes(fields));
}

bool sealed_with(std::span<const std::uint8_t> secret, const TokenFields& fields,
                 SecretCompare compare) {
  if (secret.empty()) return false;
  return compare(token_mac(secret, fields), fields.mac);
}

}  // namespace

std::optional<TokenFields> parse_token(std::string_view text) noexcept {
  std::array<std::uint8_t, token_size> bytes{};
  if (text.size() != token_text_size || !base64url_decode(text, bytes)) return std::nullopt;
  TokenFields fields;
  fields.version = bytes[0];
  if (fields.version != token_version) return std::nullopt;
  std::uint64_t issued = 0;
  for (int i = 0; i < 8; ++i) issued = issued << 8 | bytes[1 + i];
  if (issued > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;  // never sealed
  fields.issued = static_cast<std::int64_t>(issued);
  std::memcpy(fields.nonce.data(), bytes.data() + 9, fields.nonce.size());
  std::memcpy(fields.session_tag.data(), bytes.data() + 25, fields.session_tag.size());
  std::memcpy(fields.mac.data(), bytes.data() + 40, fields.mac.size());
  return fields;
}

std::string format_token(const TokenFields& fields) {
  std::array<std::uint8_t, token_size> bytes{};
  const auto head = signed_bytes(fields);
  std::memcpy(bytes.data(), head.data(), head.size());
  std::memcpy(bytes.data() + head.size(), fields.mac.data(), fields.mac.size());
  return base64url_encode(bytes);
}

std::string seal_token(std::span<const std::uint8_t> secret, std::string_view session,
                       std::int64_t issued, const std::array<std::uint8_t, 16>& nonce) {
  TokenFields fields;
  fields.issued = issued;
  fields.nonce = nonce;
  fields.session_tag = session_tag(secret, session);
  fields.mac = token_mac(secret, fields);
  return format_token(fields);
}

CsrfVerdict check_token(std::string_view text, std::string_view session, const KeyRing& keys,
                        std::int64_t now, SecretCompare compare) {
  if (text.empty()) return CsrfVerdict::missing;
  const std::optional<TokenFields> fields = parse_token(text);
  if (!fields) return CsrfVerdict::malformed;
  std::span<const std::uint8_t> secret;
  if (sealed_with(keys.current, *fields, compare)) {
    secret = keys.current;
  } else if (fields->issued <= keys.rotated_at && sealed_with(keys.previous, *fields, compare)) {
    // A token of the previous secret dated after the rotation can only come from someone who
    // holds that secret (rotated because it leaked?): it is not ours.
    secret = keys.previous;
  } else {
    return CsrfVerdict::forged;
  }
  if (fields->issued > now + allowed_clock_skew) return CsrfVerdict::not_yet_valid;
  if (now - fields->issued >= keys.lifetime) return CsrfVerdict::expired;
  if (!compare(session_tag(secret, session), fields->session_tag)) {
    return CsrfVerdict::other_session;
  }
  return CsrfVerdict::valid;
}

}  // namespace wsx::server::csrf
