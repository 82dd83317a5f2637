// wsx::CsrfTokens: the clock, the CSPRNG and the secrets (with their rotation) around the
// sans-I/O token of csrf_token.hpp.
#include <openssl/crypto.h>

#include <mutex>
#include <stdexcept>
#include <vector>

#include "server/csrf_token.hpp"
#include "wsx/csrf.hpp"
#include "wsx/proto/random.hpp"

namespace wsx {
namespace {

// Wiped when freed: a secret should not linger in freed heap memory.
struct Secret {
  std::vector<std::uint8_t> bytes;

  Secret() = default;
  explicit Secret(std::span<const std::uint8_t> from) : bytes(from.begin(), from.end()) {}
  Secret(Secret&&) noexcept = default;
  Secret& operator=(Secret&& other) noexcept {
    wipe();
    bytes = std::move(other.bytes);
    return *this;
  }
  ~Secret() { wipe(); }
  void wipe() noexcept {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
  }
};

std::int64_t unix_seconds(CsrfTokens::Clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
}

void check_secret(std::span<const std::uint8_t> secret) {
  if (secret.size() < CsrfTokens::min_secret_size) {
    throw std::invalid_argument("CSRF secret of " + std::to_string(secret.size()) +
                                " bytes: at least " + std::to_string(CsrfTokens::min_secret_size) +
                                " are needed");
  }
}

}  // namespace

std::string_view describe(CsrfVerdict verdict) noexcept {
  switch (verdict) {
    case CsrfVerdict::valid:
      return "csrf token valid";
    case CsrfVerdict::missing:
      return "csrf token missing";
    case CsrfVerdict::malformed:
      return "csrf token malformed";
    case CsrfVerdict::forged:
      return "csrf token forged";
    case CsrfVerdict::expired:
      return "csrf token expired";
    case CsrfVerdict::not_yet_valid:
      return "csrf token issued in the future";
    case CsrfVerdict::other_session:
      return "csrf token of another session";
    case CsrfVerdict::no_session:
      return "no session cookie for the csrf token";
  }
  return "csrf token refused";
}

struct CsrfTokens::Impl {
  std::chrono::seconds lifetime;
  mutable std::mutex mutex;  // guards the secrets against rotate() on another thread
  Secret current;
  Secret previous;
  std::int64_t rotated_at = 0;
};

CsrfTokens::CsrfTokens(std::span<const std::uint8_t> secret, std::chrono::seconds lifetime)
    : impl_(std::make_unique<Impl>()) {
  check_secret(secret);
  if (lifetime.count() <= 0) throw std::invalid_argument("CSRF token lifetime must be positive");
  impl_->lifetime = lifetime;
  impl_->current = Secret(secret);
}

CsrfTokens CsrfTokens::generate(std::chrono::seconds lifetime) {
  Secret secret;
  secret.bytes.resize(min_secret_size);
  proto::random_bytes(secret.bytes.data(), secret.bytes.size());
  return CsrfTokens(secret.bytes, lifetime);
}

CsrfTokens::CsrfTokens(CsrfTokens&& other) noexcept = default;
CsrfTokens& CsrfTokens::operator=(CsrfTokens&& other) noexcept = default;
CsrfTokens::~CsrfTokens() = default;

std::string CsrfTokens::issue(std::string_view session, Clock::time_point now) const {
  std::array<std::uint8_t, 16> nonce{};
  proto::random_bytes(nonce.data(), nonce.size());
  const std::lock_guard lock(impl_->mutex);
  return server::csrf::seal_token(impl_->current.bytes, session, unix_seconds(now), nonce);
}

CsrfVerdict CsrfTokens::verify(std::string_view token, std::string_view session,
                               Clock::time_point now) const {
  const std::lock_guard lock(impl_->mutex);
  server::csrf::KeyRing keys;
  keys.current = impl_->current.bytes;
  keys.previous = impl_->previous.bytes;
  keys.rotated_at = impl_->rotated_at;
  keys.lifetime = impl_->lifetime.count();
  return server::csrf::check_token(token, session, keys, unix_seconds(now));
}

void CsrfTokens::rotate(std::span<const std::uint8_t> secret, Clock::time_point now) {
  check_secret(secret);
  Secret next(secret);
  const std::lock_guard lock(impl_->mutex);
  impl_->previous = std::move(impl_->current);
  impl_->current = std::move(next);
  impl_->rotated_at = unix_seconds(now);
}

std::chrono::seconds CsrfTokens::lifetime() const noexcept {
  return impl_->lifetime;
}

}  // namespace wsx
