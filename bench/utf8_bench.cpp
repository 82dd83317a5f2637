// UTF-8 validation of 1 MiB of ASCII and of mixed text (Latin, Cyrillic, CJK, emoji), through
// the public validator and through the portable state machine alone. Throughput in bytes/s.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>

#include "../src/proto/utf8_internal.hpp"
#include "wsx/proto/utf8.hpp"

namespace {

constexpr std::size_t mebibyte = 1 << 20;

std::string ascii_text(std::size_t size) {
  const std::string phrase = "The quick brown fox jumps over the lazy dog, 0123456789!\n";
  std::string out;
  while (out.size() < size) out += phrase;
  out.resize(size);
  return out;
}

// Phrases in four scripts and some emoji, picked at random, cut at a character boundary.
std::string mixed_text(std::size_t size) {
  // A phrase split into several literals (to end a \x escape before a letter) is parenthesized:
  // the split is intended, not a missing comma (clang's -Wstring-concatenation).
  const char* phrases[] = {
      "Hello, world! ",
      ("Gr\xC3\xBC\xC3\x9F"
       "e aus K\xC3\xB6ln, \xC3\xA7"
       "a va tr\xC3\xA8s bien. "),
      "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, \xD0\xBC\xD0\xB8\xD1\x80! ",
      "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC\x81",
      ("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3"
       "\x83"
       "\x88 "),
      "\xF0\x9F\x98\x80\xF0\x9F\x8E\x89\xF0\x9F\x91\x8D ",
  };
  std::mt19937 rng(1);
  std::string out;
  while (out.size() < size) out += phrases[rng() % std::size(phrases)];
  while (out.size() > size || !wsx::proto::is_valid_utf8(out)) out.pop_back();
  return out;
}

void validate_public(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    wsx::proto::Utf8Validator v;
    const bool ok = v.feed(text) && v.complete();
    if (!ok) state.SkipWithError("text rejected");
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void validate_scalar(benchmark::State& state, const std::string& text) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
  for (auto _ : state) {
    const auto s = wsx::proto::detail::utf8_validate_scalar(0, p, text.size());
    if (s != wsx::proto::detail::utf8_accept) state.SkipWithError("text rejected");
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

const std::string& ascii() {
  static const std::string text = ascii_text(mebibyte);
  return text;
}
const std::string& mixed() {
  static const std::string text = mixed_text(mebibyte);
  return text;
}

void BM_utf8_ascii_1MiB(benchmark::State& s) {
  validate_public(s, ascii());
}
void BM_utf8_mixed_1MiB(benchmark::State& s) {
  validate_public(s, mixed());
}
void BM_utf8_scalar_ascii_1MiB(benchmark::State& s) {
  validate_scalar(s, ascii());
}
void BM_utf8_scalar_mixed_1MiB(benchmark::State& s) {
  validate_scalar(s, mixed());
}
BENCHMARK(BM_utf8_ascii_1MiB);
BENCHMARK(BM_utf8_mixed_1MiB);
BENCHMARK(BM_utf8_scalar_ascii_1MiB);
BENCHMARK(BM_utf8_scalar_mixed_1MiB);

// A typical chat message: the vector path's fixed costs matter here.
void BM_utf8_mixed_200B(benchmark::State& s) {
  static const std::string text = mixed_text(200);
  validate_public(s, text);
}
BENCHMARK(BM_utf8_mixed_200B);

}  // namespace
