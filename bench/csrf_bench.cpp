// What the handshake's CSRF check and per-address limits cost: issuing and verifying a token
// (valid; forged in the MAC's first byte and in its last, which must take the same time), and
// admitting plus releasing a connection of a limited client.
#include <benchmark/benchmark.h>

#include <array>

#include "server/address_limiter.hpp"
#include "server/base64url.hpp"
#include "server/csrf_token.hpp"
#include "wsx/csrf.hpp"

namespace {

const wsx::CsrfTokens& tokens() {
  static const wsx::CsrfTokens instance = wsx::CsrfTokens::generate();
  return instance;
}

void BM_CsrfIssue(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(tokens().issue("a-session-cookie-value"));
}
BENCHMARK(BM_CsrfIssue);

void BM_CsrfVerifyValid(benchmark::State& state) {
  const std::string token = tokens().issue("a-session-cookie-value");
  for (auto _ : state) benchmark::DoNotOptimize(tokens().verify(token, "a-session-cookie-value"));
}
BENCHMARK(BM_CsrfVerifyValid);

// The MAC's byte `index` (0..31) flipped: the compare that refuses it must not stop earlier for
// an early difference.
void BM_CsrfVerifyForgedAt(benchmark::State& state) {
  const std::string token = tokens().issue("a-session-cookie-value");
  std::array<std::uint8_t, wsx::server::csrf::token_size> bytes{};
  wsx::server::base64url_decode(token, bytes);
  bytes[40 + state.range(0)] ^= 0x01;
  const std::string forged = wsx::server::base64url_encode(bytes);
  for (auto _ : state) benchmark::DoNotOptimize(tokens().verify(forged, "a-session-cookie-value"));
}
BENCHMARK(BM_CsrfVerifyForgedAt)->Arg(0)->Arg(31);

void BM_AddressAdmitRelease(benchmark::State& state) {
  wsx::server::AddressLimiter limiter({.max_connections = 1024,
                                       .handshakes_per_second = 1e9,
                                       .handshake_burst = 1e9,
                                       .exempt_loopback = false});
  const wsx::io::SocketAddress peer = *wsx::io::SocketAddress::parse("192.0.2.7", 40000);
  for (auto _ : state) benchmark::DoNotOptimize(limiter.admit(peer));
}
BENCHMARK(BM_AddressAdmitRelease);

}  // namespace
