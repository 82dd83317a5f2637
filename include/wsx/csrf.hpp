// CSRF tokens for the opening handshake. Browsers cannot set headers on a WebSocket and send
// their cookies with it, so a page of another site could open a connection as its visitor; a
// token that only the application's own pages carry stops that, beside the Origin check.
//
// A token is HMAC-SHA256, under the server's secret, over an issue time, a random nonce and the
// session it was issued for (the value of the application's session cookie, typically). It is
// text of 96 characters from the base64url alphabet (also a valid Sec-WebSocket-Protocol token)
// and is valid for `lifetime` after issue. Checks compare MACs in constant time.
//
// A route requires one with Behavior::csrf: the token comes in the query (`?csrf=TOKEN`) or as
// an entry `csrf.TOKEN` of Sec-WebSocket-Protocol, the session in a cookie; anything else is
// refused with 403 and the reason, before the upgrade callback runs. Entries `csrf.*` are never
// chosen as the subprotocol nor shown to the application, on any route. Browsers fail a
// handshake whose answer names no subprotocol when they offered some (Chromium does): offer
// `csrf.TOKEN` only beside a subprotocol the route will choose, else put the token in the query.
//
// The application puts a token in each page it renders for a session (an http handler:
// `tokens->issue(*request.cookie("sid"))`), where only its own origin can read it, and sets
// that cookie HttpOnly and SameSite=Strict. `wsx serve --csrf` does exactly this (serve_csrf.cpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "wsx/export.hpp"

namespace wsx {

enum class CsrfVerdict : std::uint8_t {
  valid,
  missing,        // no token in the request
  malformed,      // not a token of this format
  forged,         // its MAC is not ours (another secret, changed bytes)
  expired,        // older than the lifetime
  not_yet_valid,  // issued in the future (clocks that disagree by more than a minute)
  other_session,  // valid, but issued for another session
  no_session,     // the request carries no session cookie
};

// "csrf token forged", ... (short, for a 403 body and the access log).
WSX_API std::string_view describe(CsrfVerdict verdict) noexcept;

class WSX_API CsrfTokens {
 public:
  using Clock = std::chrono::system_clock;  // wall time: tokens outlive restarts
  static constexpr std::size_t min_secret_size = 32;

  // Throws std::invalid_argument when `secret` is shorter than min_secret_size bytes or
  // `lifetime` is not positive.
  explicit CsrfTokens(std::span<const std::uint8_t> secret,
                      std::chrono::seconds lifetime = std::chrono::hours(1));
  // With a secret of 32 bytes from the CSPRNG: tokens are valid for this process only.
  static CsrfTokens generate(std::chrono::seconds lifetime = std::chrono::hours(1));

  CsrfTokens(CsrfTokens&& other) noexcept;
  CsrfTokens& operator=(CsrfTokens&& other) noexcept;
  ~CsrfTokens();

  // Any thread. `session`: what the route's session cookie will hold (any bytes).
  std::string issue(std::string_view session, Clock::time_point now = Clock::now()) const;
  CsrfVerdict verify(std::string_view token, std::string_view session,
                     Clock::time_point now = Clock::now()) const;
  // Any thread: new tokens use `secret`; those of the previous secret issued before the rotation
  // stay valid until they expire (a second rotation forgets the first secret). Throws like the
  // constructor.
  void rotate(std::span<const std::uint8_t> secret, Clock::time_point now = Clock::now());
  std::chrono::seconds lifetime() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Behavior::csrf: where a route finds the token's session, and who checks it.
struct WSX_API CsrfCheck {
  std::shared_ptr<CsrfTokens> tokens;  // may be shared by routes: rotate() reaches them all
  std::string session_cookie;          // its name, e.g. "__Host-session"
};

}  // namespace wsx
