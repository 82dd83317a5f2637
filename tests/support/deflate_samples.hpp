// Sample messages for the permessage-deflate tests: bytes that do not compress, and JSON-like
// text that compresses as real traffic does. Both are a function of their seed, so a failure
// reproduces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace wsx::test {

inline std::vector<std::uint8_t> random_bytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> out(size);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

// The same keys again and again, values from a PRNG.
inline std::vector<std::uint8_t> json_text(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s = "[";
  while (s.size() < size) {
    s += "{\"user\":\"u" + std::to_string(rng() % 500) + "\",\"seq\":" + std::to_string(rng()) +
         ",\"side\":\"" + (rng() % 2 ? "buy" : "sell") + "\",\"ok\":true},";
  }
  s.resize(size);
  return {s.begin(), s.end()};
}

}  // namespace wsx::test
