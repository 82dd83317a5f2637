#include "wsx/proto/close.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "wsx/proto/utf8.hpp"

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The rule of RFC 6455 §7.4, written as a list.
bool expected_valid(unsigned code) {
  if (code >= 3000 && code <= 4999) return true;
  for (unsigned ok :
       {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 1012u, 1013u, 1014u}) {
    if (code == ok) return true;
  }
  return false;
}

// Parses from a heap block of exactly the payload's size, so ASan sees any over-read.
ProtocolError parse(const Bytes& payload, ClosePayload& out) {
  auto exact = std::make_unique<std::uint8_t[]>(payload.size());
  if (!payload.empty()) std::memcpy(exact.get(), payload.data(), payload.size());
  const ProtocolError error = parse_close_payload(exact.get(), payload.size(), out);
  if (error == ProtocolError::none && !out.reason.empty()) {
    // The reason is a view into the parsed bytes, not a copy.
    EXPECT_EQ(reinterpret_cast<const std::uint8_t*>(out.reason.data()), exact.get() + 2);
    out.reason = std::string_view();  // `exact` dies here
  }
  return error;
}

Bytes payload(unsigned code, std::string_view reason = {}) {
  Bytes out = {static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code)};
  out.insert(out.end(), reason.begin(), reason.end());
  return out;
}

std::string encode(std::uint16_t code, std::string_view reason) {
  std::uint8_t out[125];
  std::memset(out, 0xEE, sizeof out);
  const std::size_t n = encode_close_payload(code, reason, out);
  EXPECT_LE(n, 125u);
  return std::string(reinterpret_cast<char*>(out), n);
}

TEST(CloseCodes, ExactlyTheRfcSetIsValidToReceiveAndToSend) {
  for (unsigned code = 0; code <= 0xFFFF; ++code) {
    const auto c = static_cast<std::uint16_t>(code);
    ASSERT_EQ(is_valid_received_close_code(c), expected_valid(code)) << code;
    ASSERT_EQ(is_sendable_close_code(c), expected_valid(code)) << code;
  }
}

TEST(CloseCodes, NamedBoundaries) {
  for (std::uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(is_valid_received_close_code(bad)) << bad;
    EXPECT_FALSE(is_sendable_close_code(bad)) << bad;
  }
  for (std::uint16_t good : {1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 3999, 4000, 4999}) {
    EXPECT_TRUE(is_valid_received_close_code(good)) << good;
    EXPECT_TRUE(is_sendable_close_code(good)) << good;
  }
  EXPECT_TRUE(is_sendable_close_code(static_cast<std::uint16_t>(CloseCode::message_too_big)));
  EXPECT_FALSE(is_sendable_close_code(static_cast<std::uint16_t>(CloseCode::no_status)));
  EXPECT_FALSE(is_sendable_close_code(static_cast<std::uint16_t>(CloseCode::abnormal)));
  EXPECT_FALSE(is_sendable_close_code(static_cast<std::uint16_t>(CloseCode::tls_handshake)));
}

TEST(ClosePayloadParse, EmptyMeansNoStatus) {
  ClosePayload p;
  p.code = 1000;
  p.reason = "stale";
  EXPECT_EQ(parse({}, p), ProtocolError::none);
  EXPECT_EQ(p.code, 1005);
  EXPECT_TRUE(p.reason.empty());
  EXPECT_EQ(parse_close_payload(nullptr, 0, p), ProtocolError::none);
}

TEST(ClosePayloadParse, OneByteIsTooShort) {
  for (int b : {0x03, 0xE8, 0x00}) {
    ClosePayload p;
    EXPECT_EQ(parse({static_cast<std::uint8_t>(b)}, p), ProtocolError::close_payload_too_short);
  }
}

TEST(ClosePayloadParse, CodeOnly) {
  ClosePayload p;
  EXPECT_EQ(parse({0x03, 0xE8}, p), ProtocolError::none);
  EXPECT_EQ(p.code, 1000);
  EXPECT_TRUE(p.reason.empty());
}

TEST(ClosePayloadParse, CodeAndReason) {
  const std::string reason = "going away \xE2\x80\x94 caf\xC3\xA9 \xF0\x9F\x91\x8B";
  const Bytes bytes = payload(1001, reason);
  auto exact = std::make_unique<std::uint8_t[]>(bytes.size());
  std::memcpy(exact.get(), bytes.data(), bytes.size());
  ClosePayload p;
  ASSERT_EQ(parse_close_payload(exact.get(), bytes.size(), p), ProtocolError::none);
  EXPECT_EQ(p.code, 1001);
  EXPECT_EQ(p.reason, reason);
  EXPECT_EQ(reinterpret_cast<const std::uint8_t*>(p.reason.data()), exact.get() + 2);
}

TEST(ClosePayloadParse, EveryCodeFollowsTheRule) {
  for (unsigned code = 0; code <= 0xFFFF; ++code) {
    ClosePayload p;
    const ProtocolError e = parse(payload(code, "x"), p);
    if (expected_valid(code)) {
      ASSERT_EQ(e, ProtocolError::none) << code;
      ASSERT_EQ(p.code, code);
    } else {
      ASSERT_EQ(e, ProtocolError::invalid_close_code) << code;
    }
  }
}

TEST(ClosePayloadParse, ReasonMustBeUtf8) {
  for (const std::string bad : {"\xFF", "ok\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80",
                                "cut \xE2\x82" /* unfinished at the end */}) {
    ClosePayload p;
    p.code = 4321;
    EXPECT_EQ(parse(payload(1000, bad), p), ProtocolError::invalid_utf8);
    EXPECT_EQ(p.code, 4321) << "out written on error";
  }
  // An invalid code is reported before the reason is looked at.
  ClosePayload p;
  EXPECT_EQ(parse(payload(1005, "\xFF"), p), ProtocolError::invalid_close_code);
}

TEST(ClosePayloadParse, LongestControlPayload) {
  ClosePayload p;
  const std::string reason(123, 'r');
  EXPECT_EQ(parse(payload(4000, reason), p), ProtocolError::none);
  EXPECT_EQ(p.code, 4000);
}

TEST(ClosePayloadEncode, CodeAndReason) {
  EXPECT_EQ(encode(1000, ""), std::string("\x03\xE8", 2));
  EXPECT_EQ(encode(1000, "bye"), std::string("\x03\xE8"
                                             "bye",
                                             5));
  EXPECT_EQ(encode(4999, "x"), std::string("\x13\x87"
                                           "x",
                                           3));
  EXPECT_EQ(encode(1009, "caf\xC3\xA9"), std::string("\x03\xF1"
                                                     "caf\xC3\xA9",
                                                     7));
}

TEST(ClosePayloadEncode, CodesThatMayNotBeSentWriteNothing) {
  for (std::uint16_t code : {1005, 1006, 1015, 1004, 0, 999, 2000, 5000}) {
    EXPECT_EQ(encode(code, "reason"), "") << code;
  }
}

TEST(ClosePayloadEncode, ReasonIsCutTo123BytesAtACharacterBoundary) {
  const std::string ascii(200, 'a');
  EXPECT_EQ(encode(1000, ascii).size(), 125u);
  EXPECT_EQ(encode(1000, ascii.substr(0, 123)).size(), 125u);
  EXPECT_EQ(encode(1000, ascii.substr(0, 122)).size(), 124u);

  // A character of each length straddling byte 123 is dropped whole.
  for (const std::string ch : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    for (std::size_t lead_at = 123 - ch.size() - 1; lead_at <= 123; ++lead_at) {
      const std::string reason = std::string(lead_at, 'a') + ch + "tail";
      const std::string out = encode(1000, reason);
      const std::size_t kept = out.size() - 2;
      EXPECT_LE(kept, 123u);
      const bool fits = lead_at + ch.size() <= 123;
      EXPECT_EQ(kept, fits ? std::min<std::size_t>(123, reason.size()) : lead_at)
          << ch.size() << "-byte char at " << lead_at;
      EXPECT_TRUE(is_valid_utf8(std::string_view(out).substr(2)));
      EXPECT_EQ(out.substr(2), reason.substr(0, kept));
    }
  }
}

TEST(ClosePayloadEncode, InvalidUtf8ReasonIsCutBeforeTheBadCharacter) {
  EXPECT_EQ(encode(1000, "ok\xFFno"), std::string("\x03\xE8"
                                                  "ok",
                                                  4));
  EXPECT_EQ(encode(1000, "ok\xC3"), std::string("\x03\xE8"
                                                "ok",
                                                4));
  EXPECT_EQ(encode(1000, "\xED\xA0\x80"), std::string("\x03\xE8", 2));
}

TEST(ClosePayloadEncode, RoundTripsThroughParse) {
  std::mt19937_64 rng(11);
  const std::string pieces[] = {"a",
                                "Z",
                                " ",
                                "\xC3\xA9",
                                "\xD0\xBF",
                                "\xE4\xB8\xAD",
                                "\xE2\x82\xAC",
                                "\xF0\x9F\x98\x80",
                                "\xF4\x8F\xBF\xBF"};
  for (int round = 0; round < 2000; ++round) {
    std::string reason;
    const std::size_t target = rng() % 200;
    while (reason.size() < target) reason += pieces[rng() % std::size(pieces)];
    const std::uint16_t code = round % 2 ? 1000 + rng() % 15 : 3000 + rng() % 2000;
    const std::string out = encode(code, reason);
    if (!is_sendable_close_code(code)) {
      EXPECT_TRUE(out.empty());
      continue;
    }
    ClosePayload p;
    ASSERT_EQ(parse(Bytes(out.begin(), out.end()), p), ProtocolError::none);
    ASSERT_GE(out.size(), 2u);
    ASSERT_EQ(static_cast<std::uint16_t>((static_cast<std::uint8_t>(out[0]) << 8) |
                                         static_cast<std::uint8_t>(out[1])),
              code);
    const std::string kept = out.substr(2);
    ASSERT_EQ(reason.compare(0, kept.size(), kept), 0);
    // Nothing more would have fit: the next character crosses the 123-byte limit.
    if (kept.size() < reason.size()) {
      std::size_t next = 1;
      while (kept.size() + next < reason.size() &&
             (static_cast<std::uint8_t>(reason[kept.size() + next]) & 0xC0) == 0x80) {
        ++next;
      }
      ASSERT_GT(kept.size() + next, max_close_reason);
    }
  }
}

}  // namespace
}  // namespace wsx::proto
