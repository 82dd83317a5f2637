// CSPRNG access for handshake keys and masking keys (RFC 6455 §5.3, §10.3).
#include "wsx/proto/random.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <stdexcept>

namespace wsx::proto {

namespace {

// Masking keys are sent in the clear right after they are drawn, so buffering them ahead does
// not weaken anything; it only turns one OpenSSL call per frame into one per 1024 frames.
constexpr std::size_t mask_pool_size = 4096;

struct MaskKeyPool {
  std::array<std::uint8_t, mask_pool_size> bytes{};
  std::size_t used = mask_pool_size;  // empty until first use
};

}  // namespace

void random_bytes(std::uint8_t* out, std::size_t size) {
  while (size > 0) {
    const std::size_t chunk = std::min<std::size_t>(size, INT_MAX);
    if (RAND_bytes(out, static_cast<int>(chunk)) != 1) {
      throw std::runtime_error("the CSPRNG (OpenSSL RAND_bytes) failed");
    }
    out += chunk;
    size -= chunk;
  }
}

MaskKey random_mask_key() {
  thread_local MaskKeyPool pool;
  MaskKey key;
  if (pool.used + key.size() > pool.bytes.size()) {
    random_bytes(pool.bytes.data(), pool.bytes.size());
    pool.used = 0;
  }
  std::memcpy(key.data(), pool.bytes.data() + pool.used, key.size());
  pool.used += key.size();
  return key;
}

}  // namespace wsx::proto
