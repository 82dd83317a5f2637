#include "wsx/proto/utf8.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "../../../src/proto/utf8_internal.hpp"

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

// ---- a reference written the obvious way: decode the code point, then judge it ---------------

// Sequence length announced by a lead byte, 0 if the byte cannot start a character.
std::size_t announced_length(std::uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 0;
}

// Is q[0, len) exactly one well-formed character?
bool reference_char_valid(const std::uint8_t* q, std::size_t len) {
  if (announced_length(q[0]) != len) return false;
  static constexpr std::uint8_t lead_bits[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  static constexpr std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  std::uint32_t cp = q[0] & lead_bits[len];
  for (std::size_t k = 1; k < len; ++k) {
    if ((q[k] & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (q[k] & 0x3F);
  }
  if (cp < smallest[len]) return false;            // overlong
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogate
  return cp <= 0x10FFFF;
}

// Can the first m bytes of a character announced as `len` bytes still be completed? The valid
// range of every continuation byte contains 80 or BF, so trying those two fillings is enough.
bool reference_char_prefix_ok(const std::uint8_t* q, std::size_t m, std::size_t len) {
  for (std::uint8_t fill : {std::uint8_t{0x80}, std::uint8_t{0xBF}}) {
    std::uint8_t buf[4];
    for (std::size_t k = 0; k < len; ++k) buf[k] = k < m ? q[k] : fill;
    if (reference_char_valid(buf, len)) return true;
  }
  return false;
}

struct Reference {
  std::size_t first_error;  // index of the first byte that makes the input invalid, or size
  bool valid;               // valid and complete
};

Reference reference(const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::size_t len = announced_length(p[i]);
    if (len == 0) return {i, false};
    const std::size_t have = std::min(len, n - i);
    for (std::size_t m = 1; m <= have; ++m) {
      if (!reference_char_prefix_ok(p + i, m, len)) return {i + m - 1, false};
    }
    if (have < len) return {n, false};  // unfinished, but no byte is wrong yet
    i += len;
  }
  return {n, true};
}

Reference reference(const Bytes& b) {
  return reference(b.data(), b.size());
}

Bytes bytes(std::initializer_list<int> list) {
  Bytes out;
  for (int v : list) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

Bytes encode_code_point(std::uint32_t cp) {  // no judgement: encodes surrogates and > 10FFFF too
  if (cp < 0x80) return bytes({static_cast<int>(cp)});
  if (cp < 0x800)
    return bytes({0xC0 | static_cast<int>(cp >> 6), 0x80 | static_cast<int>(cp & 0x3F)});
  if (cp < 0x10000) {
    return bytes({0xE0 | static_cast<int>(cp >> 12), 0x80 | static_cast<int>((cp >> 6) & 0x3F),
                  0x80 | static_cast<int>(cp & 0x3F)});
  }
  return bytes({0xF0 | static_cast<int>(cp >> 18), 0x80 | static_cast<int>((cp >> 12) & 0x3F),
                0x80 | static_cast<int>((cp >> 6) & 0x3F), 0x80 | static_cast<int>(cp & 0x3F)});
}

using Validate = std::uint32_t (*)(std::uint32_t, const std::uint8_t*, std::size_t) noexcept;

struct Implementation {
  const char* name;
  Validate validate;
};

std::vector<Implementation> implementations() {
  std::vector<Implementation> v = {{"scalar", detail::utf8_validate_scalar}};
#if WSX_X86_64
  if (detail::cpu_has_avx2()) v.push_back({"avx2", detail::utf8_validate_avx2});
#endif
  return v;
}

// Checks `input` against the reference through the public validator: feeding the prefix before
// the first bad byte succeeds, feeding it with the bad byte fails, complete() matches.
void expect_matches_reference(const Bytes& input) {
  const Reference ref = reference(input);
  EXPECT_EQ(is_valid_utf8(input.data(), input.size()), ref.valid);
  Utf8Validator whole;
  EXPECT_EQ(whole.feed(input.data(), input.size()), ref.first_error == input.size());
  EXPECT_EQ(whole.complete(), ref.valid);
  if (ref.first_error < input.size()) {
    Utf8Validator before;
    EXPECT_TRUE(before.feed(input.data(), ref.first_error));
    Utf8Validator with_bad;
    EXPECT_FALSE(with_bad.feed(input.data(), ref.first_error + 1));
    EXPECT_TRUE(with_bad.failed());
  }
}

// ---- the reference itself ------------------------------------------------------------------

TEST(Utf8Reference, KnowsTheEasyCases) {
  EXPECT_TRUE(reference(bytes({0x41})).valid);
  EXPECT_TRUE(reference(bytes({0xC3, 0xA9})).valid);
  EXPECT_EQ(reference(bytes({0xC0, 0x80})).first_error, 0u);
  EXPECT_EQ(reference(bytes({0xE0, 0x80, 0x80})).first_error, 1u);
  EXPECT_EQ(reference(bytes({0xED, 0xA0, 0x80})).first_error, 1u);
  EXPECT_EQ(reference(bytes({0xF4, 0x90, 0x80, 0x80})).first_error, 1u);
  EXPECT_EQ(reference(bytes({0xE2, 0x82})).first_error, 2u);
  EXPECT_FALSE(reference(bytes({0xE2, 0x82})).valid);
}

// ---- exhaustive and sampled comparisons ----------------------------------------------------

// Feeds byte by byte and returns the index of the byte whose feed() failed (or n), and whether
// the validator ended complete.
Reference validator_byte_by_byte(const std::uint8_t* p, std::size_t n) {
  Utf8Validator v;
  for (std::size_t i = 0; i < n; ++i) {
    if (!v.feed(p + i, 1)) {
      EXPECT_TRUE(v.failed());
      EXPECT_FALSE(v.feed(p + i + 1, n - i - 1)) << "reject must be final";
      return {i, false};
    }
  }
  return {n, v.complete()};
}

void expect_same(const std::uint8_t* p, std::size_t n) {
  const Reference ref = reference(p, n);
  const Reference got = validator_byte_by_byte(p, n);
  ASSERT_EQ(got.first_error, ref.first_error) << std::hex << int(p[0]) << " n=" << n;
  ASSERT_EQ(got.valid, ref.valid) << std::hex << int(p[0]) << " n=" << n;
  ASSERT_EQ(is_valid_utf8(p, n), ref.valid);
}

TEST(Utf8Exhaustive, AllOneAndTwoByteSequences) {
  std::uint8_t buf[2];
  for (int a = 0; a < 256; ++a) {
    buf[0] = static_cast<std::uint8_t>(a);
    expect_same(buf, 1);
    for (int b = 0; b < 256; ++b) {
      buf[1] = static_cast<std::uint8_t>(b);
      expect_same(buf, 2);
    }
  }
}

TEST(Utf8Exhaustive, AllThreeByteSequences) {
  std::uint8_t buf[3];
  std::size_t valid = 0;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c = 0; c < 256; ++c) {
        buf[0] = static_cast<std::uint8_t>(a);
        buf[1] = static_cast<std::uint8_t>(b);
        buf[2] = static_cast<std::uint8_t>(c);
        const Reference ref = reference(buf, 3);
        Utf8Validator v;
        std::size_t fail = 3;
        for (std::size_t i = 0; i < 3; ++i) {
          if (!v.feed(buf + i, 1)) {
            fail = i;
            break;
          }
        }
        ASSERT_EQ(fail, ref.first_error) << std::hex << a << " " << b << " " << c;
        ASSERT_EQ(fail == 3 && v.complete(), ref.valid) << std::hex << a << " " << b << " " << c;
        valid += ref.valid;
      }
    }
  }
  // 128^3 ASCII triples + 2 * 128 * 1920 (ASCII with a 2-byte char) + 61440 3-byte characters
  // (U+0800..U+FFFF minus 2048 surrogates).
  EXPECT_EQ(valid, 128u * 128 * 128 + 2 * 128 * 1920 + 61440);
}

TEST(Utf8Exhaustive, SampledFourByteSequences) {
  const int interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
                             0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xFF};
  std::uint8_t buf[4];
  std::size_t valid = 0;
  for (int a = 0xE0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : interesting) {
        for (int d : interesting) {
          buf[0] = static_cast<std::uint8_t>(a);
          buf[1] = static_cast<std::uint8_t>(b);
          buf[2] = static_cast<std::uint8_t>(c);
          buf[3] = static_cast<std::uint8_t>(d);
          expect_same(buf, 4);
          valid += reference(buf, 4).valid;
        }
      }
    }
  }
  EXPECT_GT(valid, 10000u);
  std::mt19937_64 rng(4);
  for (int i = 0; i < 500000; ++i) {
    const std::uint64_t r = rng();
    for (int k = 0; k < 4; ++k) buf[k] = static_cast<std::uint8_t>(r >> (8 * k));
    if (r & (1ull << 40)) buf[0] = static_cast<std::uint8_t>(0xF0 | ((r >> 41) & 7));
    if (r & (1ull << 44)) buf[1] = static_cast<std::uint8_t>(0x80 | (buf[1] & 0x3F));
    expect_same(buf, 4);
  }
}

// ---- Markus Kuhn-style edge cases ------------------------------------------------------------

TEST(Utf8EdgeCases, BoundaryCodePoints) {
  for (std::uint32_t cp : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u, 0xFFFDu, 0xFFFEu,
                           0xFFFFu, 0x10000u, 0x10FFFFu}) {
    const Bytes b = encode_code_point(cp);
    EXPECT_TRUE(is_valid_utf8(b.data(), b.size())) << std::hex << cp;
    expect_matches_reference(b);
  }
  for (std::uint32_t cp :
       {0xD800u, 0xDB7Fu, 0xDBFFu, 0xDC00u, 0xDFFFu, 0x110000u, 0x13FFFFu, 0x1FFFFFu}) {
    const Bytes b = encode_code_point(cp);
    EXPECT_FALSE(is_valid_utf8(b.data(), b.size())) << std::hex << cp;
    // Both fail at their second byte: ED A0.., F4 90.. / F5.. at the first.
    Utf8Validator v;
    EXPECT_FALSE(v.feed(b.data(), 2)) << std::hex << cp;
    expect_matches_reference(b);
  }
}

TEST(Utf8EdgeCases, EncodedSurrogatePairIsInvalid) {
  EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80}).data(), 6));
}

TEST(Utf8EdgeCases, OverlongForms) {
  for (const Bytes& b :
       {bytes({0xC0, 0xAF}), bytes({0xE0, 0x80, 0xAF}), bytes({0xF0, 0x80, 0x80, 0xAF}),
        bytes({0xC1, 0xBF}), bytes({0xE0, 0x9F, 0xBF}), bytes({0xF0, 0x8F, 0xBF, 0xBF}),
        bytes({0xC0, 0x80}), bytes({0xE0, 0x80, 0x80})}) {
    EXPECT_FALSE(is_valid_utf8(b.data(), b.size()));
    expect_matches_reference(b);
  }
  // The smallest non-overlong forms.
  EXPECT_TRUE(is_valid_utf8(bytes({0xC2, 0x80}).data(), 2));
  EXPECT_TRUE(is_valid_utf8(bytes({0xE0, 0xA0, 0x80}).data(), 3));
  EXPECT_TRUE(is_valid_utf8(bytes({0xF0, 0x90, 0x80, 0x80}).data(), 4));
}

TEST(Utf8EdgeCases, BytesThatNeverAppear) {
  for (int b : {0xC0, 0xC1, 0xF5, 0xF6, 0xF7, 0xF8, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF}) {
    Utf8Validator v;
    EXPECT_FALSE(v.feed(bytes({b}).data(), 1)) << std::hex << b;
  }
  // Five- and six-byte forms of the old RFC 2279.
  EXPECT_FALSE(is_valid_utf8(bytes({0xF8, 0x88, 0x80, 0x80, 0x80}).data(), 5));
  EXPECT_FALSE(is_valid_utf8(bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}).data(), 6));
}

TEST(Utf8EdgeCases, StrayContinuationBytes) {
  for (int b = 0x80; b <= 0xBF; ++b) {
    Utf8Validator v;
    EXPECT_FALSE(v.feed(bytes({b}).data(), 1)) << std::hex << b;
  }
  Utf8Validator v;
  EXPECT_TRUE(v.feed(bytes({0xC3, 0xA9}).data(), 2));
  EXPECT_FALSE(v.feed(bytes({0xA9}).data(), 1));  // one continuation too many
}

TEST(Utf8EdgeCases, TruncatedSequencesAreIncompleteNotFailed) {
  for (const Bytes& b : {bytes({0xC3}), bytes({0xE2, 0x82}), bytes({0xF0, 0x9F, 0x98}),
                         bytes({0xF4, 0x8F, 0xBF}), bytes({0x41, 0xE0})}) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed(b.data(), b.size()));
    EXPECT_FALSE(v.complete());
    EXPECT_FALSE(v.failed());
    EXPECT_FALSE(is_valid_utf8(b.data(), b.size()));
  }
  // A truncated sequence followed by something that is not a continuation fails there.
  Utf8Validator v;
  EXPECT_TRUE(v.feed(bytes({0xE2, 0x82}).data(), 2));
  EXPECT_FALSE(v.feed(bytes({0x41}).data(), 1));
}

TEST(Utf8FailsAtTheFirstBadByte, F490FailsOnThe90) {
  const Bytes b = bytes({0xF4, 0x90, 0x80, 0x80});
  Utf8Validator v;
  EXPECT_TRUE(v.feed(b.data(), 1));
  EXPECT_FALSE(v.feed(b.data() + 1, 1));
  Utf8Validator prefix;
  EXPECT_FALSE(prefix.feed(b.data(), 2));
}

TEST(Utf8FailsAtTheFirstBadByte, EvenAfterALongValidPrefix) {
  // Long enough for the vector path: the bad byte sits at every position of a 64-byte block.
  const std::string text =
      "h\xC3\xA9llo w\xC3\xB6rld \xD0\xBF\xD1\x80\xD0\xB8 \xE4\xB8\xAD\xE6\x96\x87 "
      "\xF0\x9F\x98\x80 ";
  for (std::size_t prefix_len = 0; prefix_len < 300; ++prefix_len) {
    std::string prefix;
    while (prefix.size() < prefix_len) prefix += text;
    // Cut at a character boundary so the prefix itself is valid.
    while (!is_valid_utf8(prefix)) prefix.pop_back();
    for (const std::string bad : {"\xF4\x90", "\xED\xA0", "\xE0\x80", "\xC0", "\x80", "\xFF",
                                  "\xE2\x82\x41", "\xF0\x9F\x98\xF0"}) {
      std::string input = prefix + bad + text + text;
      const std::size_t bad_at = prefix.size() + bad.size() - 1;
      Utf8Validator ok;
      EXPECT_TRUE(ok.feed(std::string_view(input).substr(0, bad_at))) << prefix_len;
      Utf8Validator fails;
      EXPECT_FALSE(fails.feed(std::string_view(input).substr(0, bad_at + 1))) << prefix_len;
      EXPECT_FALSE(is_valid_utf8(input));
    }
  }
}

TEST(Utf8Validator, RejectIsFinalAndResetClearsIt) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed(std::string_view("\xFF")));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.complete());
  EXPECT_FALSE(v.feed(std::string_view("abc")));
  EXPECT_FALSE(v.feed(nullptr, 0));
  v.reset();
  EXPECT_FALSE(v.failed());
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(v.feed(std::string_view("abc")));
}

TEST(Utf8Validator, EmptyInputIsValid) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed(nullptr, 0));
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(is_valid_utf8(nullptr, 0));
  EXPECT_TRUE(is_valid_utf8(std::string_view()));
}

// ---- random input: both implementations, random splits, against the reference ---------------

// Random text of random characters of every length, with occasional damage.
Bytes random_text(std::mt19937_64& rng, std::size_t target, bool damage) {
  Bytes out;
  const int style = static_cast<int>(rng() % 4);  // mostly ASCII / mixed / mostly wide / any byte
  while (out.size() < target) {
    const unsigned pick = static_cast<unsigned>(rng() % 100);
    std::uint32_t cp;
    if (style == 3) {
      out.push_back(static_cast<std::uint8_t>(rng()));
      continue;
    }
    if ((style == 0 && pick < 95) || (style == 1 && pick < 40) || (style == 2 && pick < 5)) {
      cp = static_cast<std::uint32_t>(rng() % 0x80);
    } else if (pick % 3 == 0) {
      cp = 0x80 + static_cast<std::uint32_t>(rng() % (0x800 - 0x80));
    } else if (pick % 3 == 1) {
      do cp = 0x800 + static_cast<std::uint32_t>(rng() % (0x10000 - 0x800));
      while (cp >= 0xD800 && cp <= 0xDFFF);
    } else {
      cp = 0x10000 + static_cast<std::uint32_t>(rng() % (0x110000 - 0x10000));
    }
    const Bytes c = encode_code_point(cp);
    out.insert(out.end(), c.begin(), c.end());
  }
  if (damage && !out.empty()) {
    const int hits = 1 + static_cast<int>(rng() % 3);
    for (int h = 0; h < hits && !out.empty(); ++h) {
      const std::size_t at = rng() % out.size();
      switch (rng() % 5) {
        case 0:
          out[at] = static_cast<std::uint8_t>(rng());
          break;
        case 1:
          out[at] = static_cast<std::uint8_t>(0x80 | (rng() & 0x3F));
          break;
        case 2:
          out.erase(out.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        case 3: {
          // An almost-valid sequence: a lead byte near a boundary of Table 3-7, then 0-3 bytes
          // near the boundaries of the continuation ranges.
          static constexpr std::uint8_t leads[] = {0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
                                                   0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
          static constexpr std::uint8_t tails[] = {0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0};
          Bytes seq = {leads[rng() % 16]};
          const std::size_t more = rng() % 4;
          for (std::size_t k = 0; k < more; ++k) seq.push_back(tails[rng() % 8]);
          out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), seq.begin(), seq.end());
          break;
        }
        default:
          out.insert(out.begin() + static_cast<std::ptrdiff_t>(at),
                     static_cast<std::uint8_t>(0xC0 | (rng() & 0x3F)));
      }
    }
  }
  return out;
}

TEST(Utf8Random, ImplementationsAgreeWithTheReference) {
  std::mt19937_64 rng(2024);
  const auto impls = implementations();
  for (int round = 0; round < 3000; ++round) {
    const std::size_t size = rng() % (round % 10 == 0 ? 5000 : 400);
    const Bytes input = random_text(rng, size, rng() % 3 != 0);
    const Reference ref = reference(input);
    for (const auto& impl : impls) {
      const std::uint32_t whole = impl.validate(detail::utf8_accept, input.data(), input.size());
      ASSERT_EQ(whole == detail::utf8_accept, ref.valid) << impl.name << " round " << round;
      ASSERT_EQ(whole == detail::utf8_reject, ref.first_error < input.size()) << impl.name;
      if (ref.first_error < input.size()) {
        ASSERT_NE(impl.validate(detail::utf8_accept, input.data(), ref.first_error),
                  detail::utf8_reject)
            << impl.name << " round " << round;
        ASSERT_EQ(impl.validate(detail::utf8_accept, input.data(), ref.first_error + 1),
                  detail::utf8_reject)
            << impl.name << " round " << round;
      }
      // The final state — including a character left open — is the same for every
      // implementation, since it is what the next piece continues from.
      ASSERT_EQ(whole, impls[0].validate(detail::utf8_accept, input.data(), input.size()));
    }
  }
}

TEST(Utf8Random, RandomSplitsCarryTheStateAcrossPieces) {
  std::mt19937_64 rng(77);
  const auto impls = implementations();
  for (int round = 0; round < 2000; ++round) {
    const Bytes input = random_text(rng, rng() % 3000, rng() % 2 == 0);
    const Reference ref = reference(input);
    for (const auto& impl : impls) {
      std::uint32_t state = detail::utf8_accept;
      std::size_t pos = 0;
      std::size_t failed_piece_end = input.size() + 1;
      while (pos < input.size()) {
        const std::size_t piece = std::min<std::size_t>(
            input.size() - pos, rng() % 4 == 0 ? 1 + rng() % 4 : 1 + rng() % 200);
        state = impl.validate(state, input.data() + pos, piece);
        pos += piece;
        if (state == detail::utf8_reject) {
          failed_piece_end = pos;
          break;
        }
      }
      if (ref.first_error < input.size()) {
        // Failed in the piece that holds the bad byte, not before and not later.
        ASSERT_EQ(state, detail::utf8_reject) << impl.name << " round " << round;
        ASSERT_GT(failed_piece_end, ref.first_error);
        ASSERT_LE(failed_piece_end - 1 - ref.first_error, 200u);
        Utf8Validator v;
        ASSERT_TRUE(v.feed(input.data(), ref.first_error));
      } else {
        ASSERT_EQ(state == detail::utf8_accept, ref.valid) << impl.name << " round " << round;
      }
    }
    // The public API gives the same answer with the same kind of splits.
    Utf8Validator v;
    std::size_t pos = 0;
    bool ok = true;
    while (pos < input.size() && ok) {
      const std::size_t piece = std::min<std::size_t>(input.size() - pos, 1 + rng() % 150);
      ok = v.feed(input.data() + pos, piece);
      pos += piece;
    }
    ASSERT_EQ(ok, ref.first_error == input.size());
    ASSERT_EQ(ok && v.complete(), ref.valid);
  }
}

TEST(Utf8Random, ExactFailurePointUnderEverySplit) {
  // For damaged inputs, the prefix before the bad byte is accepted however it is split.
  std::mt19937_64 rng(5);
  for (int round = 0; round < 300; ++round) {
    const Bytes input = random_text(rng, 50 + rng() % 400, true);
    const Reference ref = reference(input);
    if (ref.first_error == input.size()) continue;
    for (int split = 0; split < 10; ++split) {
      const std::size_t cut = rng() % (ref.first_error + 1);
      Utf8Validator v;
      ASSERT_TRUE(v.feed(input.data(), cut));
      ASSERT_TRUE(v.feed(input.data() + cut, ref.first_error - cut));
      ASSERT_FALSE(v.feed(input.data() + ref.first_error, input.size() - ref.first_error));
    }
  }
}

// Every kind of bad sequence, complete and followed by valid text, at every offset of inputs
// long enough for the vector path — so the byte after it cannot give the error away — in ASCII
// and in multi-byte surroundings.
TEST(Utf8EveryPosition, EachKindOfErrorIsFoundWhereverItSits) {
  const Bytes bad_sequences[] = {
      bytes({0xED, 0xA0, 0x80}),
      bytes({0xED, 0xBF, 0xBF}),  // surrogates
      bytes({0xE0, 0x80, 0x80}),
      bytes({0xE0, 0x9F, 0xBF}),  // overlong 3
      bytes({0xF0, 0x80, 0x80, 0x80}),
      bytes({0xF0, 0x8F, 0xBF, 0xBF}),  // overlong 4
      bytes({0xC0, 0x80}),
      bytes({0xC1, 0xBF}),  // overlong 2
      bytes({0xF4, 0x90, 0x80, 0x80}),
      bytes({0xF4, 0xBF, 0xBF, 0xBF}),  // above U+10FFFF
      bytes({0xF5, 0x80, 0x80, 0x80}),
      bytes({0xF7, 0xBF, 0xBF, 0xBF}),
      bytes({0xF8, 0x88, 0x80, 0x80, 0x80}),
      bytes({0xFF}),
      bytes({0xFE}),
      bytes({0x80}),
      bytes({0xBF}),
      bytes({0xC2, 0x80, 0x80}),  // stray continuation
      bytes({0xE1, 0x80, 0x80, 0x80}),
      bytes({0xF1, 0x80, 0x80, 0x80, 0x80}),
      bytes({0xC2, 0x41}),
      bytes({0xE1, 0x80, 0x41}),
      bytes({0xF1, 0x80, 0x80, 0x41}),  // short
      bytes({0xC2, 0xC2, 0x80}),
      bytes({0xE1, 0xE1, 0x80, 0x80}),
      bytes({0xF1, 0xF1, 0x80, 0x80, 0x80}),
  };
  const Bytes fillers[] = {bytes({'a'}),
                           bytes({0xC3, 0xA9}),
                           bytes({0xE4, 0xB8, 0xAD}),
                           bytes({0xF0, 0x9F, 0x98, 0x80}),
                           bytes({0xF4, 0x8F, 0xBF, 0xBF}),
                           bytes({0xED, 0x9F, 0xBF}),
                           bytes({0xE0, 0xA0, 0x80})};
  const auto impls = implementations();
  for (const Bytes& filler : fillers) {
    for (const Bytes& bad : bad_sequences) {
      for (std::size_t offset = 0; offset < 140; ++offset) {
        Bytes input;
        while (input.size() < offset) input.insert(input.end(), filler.begin(), filler.end());
        input.insert(input.end(), bad.begin(), bad.end());
        while (input.size() < 260) input.insert(input.end(), filler.begin(), filler.end());
        const Reference ref = reference(input);
        ASSERT_LT(ref.first_error, input.size());
        for (const auto& impl : impls) {
          ASSERT_EQ(impl.validate(detail::utf8_accept, input.data(), input.size()),
                    detail::utf8_reject)
              << impl.name << " offset " << offset;
          ASSERT_NE(impl.validate(detail::utf8_accept, input.data(), ref.first_error),
                    detail::utf8_reject)
              << impl.name << " offset " << offset;
          ASSERT_EQ(impl.validate(detail::utf8_accept, input.data(), ref.first_error + 1),
                    detail::utf8_reject)
              << impl.name << " offset " << offset;
        }
      }
    }
    // Without the bad sequence the same input is valid.
    Bytes clean;
    while (clean.size() < 260) clean.insert(clean.end(), filler.begin(), filler.end());
    for (const auto& impl : impls) {
      EXPECT_EQ(impl.validate(detail::utf8_accept, clean.data(), clean.size()),
                detail::utf8_accept);
    }
  }
}

TEST(Utf8Random, ScalarStepMatchesTheReferenceOnEveryByte) {
  // utf8_step is the building block every implementation shares: byte by byte it must agree
  // with whole-buffer validation.
  std::mt19937_64 rng(8);
  for (int round = 0; round < 2000; ++round) {
    const Bytes input = random_text(rng, rng() % 100, true);
    std::uint32_t state = detail::utf8_accept;
    for (std::uint8_t b : input) state = detail::utf8_step(state, b);
    ASSERT_EQ(state, detail::utf8_validate_scalar(detail::utf8_accept, input.data(), input.size()));
  }
}

}  // namespace
}  // namespace wsx::proto
