#include "wsx/proto/frame.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Decodes from a heap block of exactly data.size() bytes, so AddressSanitizer catches any read
// past the end.
FrameDecodeResult decode_exact(const Bytes& data, FrameHeader& out, std::size_t size) {
  auto block = std::make_unique<std::uint8_t[]>(size == 0 ? 1 : size);
  if (size > 0) std::memcpy(block.get(), data.data(), size);
  return decode_frame_header(size == 0 ? nullptr : block.get(), size, out);
}

FrameDecodeResult decode_exact(const Bytes& data, FrameHeader& out) {
  return decode_exact(data, out, data.size());
}

ProtocolError decode_error(const Bytes& data) {
  FrameHeader header;
  const auto result = decode_exact(data, header);
  EXPECT_EQ(result.status, DecodeStatus::error);
  return result.error;
}

Bytes encode(const FrameHeader& header) {
  Bytes out(max_frame_header_size);
  out.resize(encode_frame_header(header, out.data()));
  return out;
}

FrameHeader make_header(Opcode opcode, std::uint64_t length, bool fin = true, bool masked = false,
                        MaskKey key = {}) {
  FrameHeader h;
  h.fin = fin;
  h.opcode = opcode;
  h.payload_length = length;
  h.masked = masked;
  h.mask_key = key;
  return h;
}

bool same(const FrameHeader& a, const FrameHeader& b) {
  return a.fin == b.fin && a.rsv1 == b.rsv1 && a.rsv2 == b.rsv2 && a.rsv3 == b.rsv3 &&
         a.opcode == b.opcode && a.masked == b.masked && a.payload_length == b.payload_length &&
         a.mask_key == b.mask_key;
}

// Every strict prefix of a valid header needs more; the whole header decodes to `expected`,
// re-encodes to the same bytes, and trailing payload bytes are not consumed.
void expect_header(const Bytes& bytes, const FrameHeader& expected) {
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    FrameHeader untouched = make_header(Opcode::pong, 77);
    const auto partial = decode_exact(bytes, untouched, n);
    EXPECT_EQ(partial.status, DecodeStatus::need_more) << "prefix of " << n << " bytes";
    EXPECT_TRUE(same(untouched, make_header(Opcode::pong, 77))) << "out written on need_more";
  }
  FrameHeader decoded;
  const auto result = decode_exact(bytes, decoded);
  ASSERT_EQ(result.status, DecodeStatus::ok);
  EXPECT_EQ(result.error, ProtocolError::none);
  EXPECT_EQ(result.header_size, bytes.size());
  EXPECT_TRUE(same(decoded, expected));
  EXPECT_EQ(frame_header_size(expected.payload_length, expected.masked), bytes.size());
  EXPECT_EQ(encode(expected), bytes);

  Bytes with_payload = bytes;
  with_payload.insert(with_payload.end(), {0x48, 0x65, 0x6c});
  const auto longer = decode_exact(with_payload, decoded);
  ASSERT_EQ(longer.status, DecodeStatus::ok);
  EXPECT_EQ(longer.header_size, bytes.size());
}

// ---- RFC 6455 §5.7 examples -------------------------------------------------------------

TEST(FrameRfcExamples, SingleFrameUnmaskedText) {
  const Bytes frame = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  FrameHeader h;
  const auto r = decode_exact(frame, h);
  ASSERT_EQ(r.status, DecodeStatus::ok);
  EXPECT_EQ(r.header_size, 2u);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, Opcode::text);
  EXPECT_FALSE(h.masked);
  EXPECT_EQ(h.payload_length, 5u);
  EXPECT_EQ(std::string(frame.begin() + 2, frame.end()), "Hello");
  expect_header({0x81, 0x05}, make_header(Opcode::text, 5));
}

TEST(FrameRfcExamples, SingleFrameMaskedText) {
  const Bytes frame = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  FrameHeader h;
  const auto r = decode_exact(frame, h);
  ASSERT_EQ(r.status, DecodeStatus::ok);
  EXPECT_EQ(r.header_size, 6u);
  EXPECT_TRUE(h.masked);
  EXPECT_EQ(h.mask_key, (MaskKey{0x37, 0xfa, 0x21, 0x3d}));
  EXPECT_EQ(h.payload_length, 5u);
  expect_header({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d},
                make_header(Opcode::text, 5, true, true, {0x37, 0xfa, 0x21, 0x3d}));
}

TEST(FrameRfcExamples, FragmentedUnmaskedText) {
  // "Hel" in a text frame without FIN, then "lo" in a continuation frame with FIN.
  expect_header({0x01, 0x03}, make_header(Opcode::text, 3, false));
  expect_header({0x80, 0x02}, make_header(Opcode::continuation, 2, true));
  EXPECT_EQ(encode(make_header(Opcode::text, 3, false)), (Bytes{0x01, 0x03}));
  EXPECT_EQ(encode(make_header(Opcode::continuation, 2)), (Bytes{0x80, 0x02}));
}

TEST(FrameRfcExamples, UnmaskedPingAndMaskedPong) {
  expect_header({0x89, 0x05}, make_header(Opcode::ping, 5));
  expect_header({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d},
                make_header(Opcode::pong, 5, true, true, {0x37, 0xfa, 0x21, 0x3d}));
}

TEST(FrameRfcExamples, BinaryWith16And64BitLengths) {
  expect_header({0x82, 0x7E, 0x01, 0x00}, make_header(Opcode::binary, 256));
  expect_header({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00},
                make_header(Opcode::binary, 65536));
}

// ---- length encodings ------------------------------------------------------------------

TEST(FrameLength, BoundariesOfEachEncoding) {
  expect_header({0x82, 0x00}, make_header(Opcode::binary, 0));
  expect_header({0x82, 0x7D}, make_header(Opcode::binary, 125));
  expect_header({0x82, 0x7E, 0x00, 0x7E}, make_header(Opcode::binary, 126));
  expect_header({0x82, 0x7E, 0xFF, 0xFF}, make_header(Opcode::binary, 0xFFFF));
  expect_header({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00},
                make_header(Opcode::binary, 0x10000));
  expect_header({0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
                make_header(Opcode::binary, 0x7FFFFFFFFFFFFFFFull));
  expect_header({0x02, 0xFF, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 1, 2, 3, 4},
                make_header(Opcode::binary, 0x0123456789ABCDEFull, false, true, {1, 2, 3, 4}));
}

TEST(FrameLength, SixteenBitFormForShortLengthIsRejected) {
  EXPECT_EQ(decode_error({0x82, 0x7E, 0x00, 0x00}), ProtocolError::non_minimal_length);
  EXPECT_EQ(decode_error({0x82, 0x7E, 0x00, 0x7D}), ProtocolError::non_minimal_length);
  EXPECT_EQ(decode_error({0x82, 0xFE, 0x00, 0x05}), ProtocolError::non_minimal_length);
}

TEST(FrameLength, SixtyFourBitFormForSixteenBitLengthIsRejected) {
  EXPECT_EQ(decode_error({0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0}), ProtocolError::non_minimal_length);
  EXPECT_EQ(decode_error({0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0x7D}),
            ProtocolError::non_minimal_length);
  EXPECT_EQ(decode_error({0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}),
            ProtocolError::non_minimal_length);
}

TEST(FrameLength, TopBitOfSixtyFourBitLengthIsRejected) {
  EXPECT_EQ(decode_error({0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}),
            ProtocolError::length_high_bit_set);
  EXPECT_EQ(decode_error({0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}),
            ProtocolError::length_high_bit_set);
}

TEST(FrameLength, ErrorNeedsOnlyTheLengthBytesNotTheMaskKey) {
  // Masked, non-minimal: the error is known before the mask key arrives.
  EXPECT_EQ(decode_error({0x82, 0xFE, 0x00, 0x10}), ProtocolError::non_minimal_length);
  // But not before the extended length itself has arrived.
  FrameHeader h;
  EXPECT_EQ(decode_exact({0x82, 0x7E, 0x00}, h).status, DecodeStatus::need_more);
  EXPECT_EQ(decode_exact({0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0}, h).status, DecodeStatus::need_more);
}

// ---- opcodes and control frames --------------------------------------------------------

TEST(FrameOpcode, DefinedOpcodesDecodeAndReservedOnesFailAfterOneByte) {
  for (int op = 0; op < 16; ++op) {
    const bool defined = op <= 2 || (op >= 8 && op <= 10);
    const Bytes frame = {static_cast<std::uint8_t>(0x80 | op), 0x00};
    FrameHeader h;
    const auto whole = decode_exact(frame, h);
    const auto first_byte = decode_exact(frame, h, 1);
    if (defined) {
      EXPECT_EQ(whole.status, DecodeStatus::ok) << op;
      EXPECT_EQ(static_cast<int>(h.opcode), op);
      EXPECT_EQ(first_byte.status, DecodeStatus::need_more) << op;
    } else {
      EXPECT_EQ(whole.status, DecodeStatus::error) << op;
      EXPECT_EQ(whole.error, ProtocolError::reserved_opcode) << op;
      EXPECT_EQ(first_byte.status, DecodeStatus::error) << op;
      EXPECT_EQ(first_byte.error, ProtocolError::reserved_opcode) << op;
    }
  }
}

TEST(FrameOpcode, IsControl) {
  EXPECT_FALSE(is_control(Opcode::continuation));
  EXPECT_FALSE(is_control(Opcode::text));
  EXPECT_FALSE(is_control(Opcode::binary));
  EXPECT_TRUE(is_control(Opcode::close));
  EXPECT_TRUE(is_control(Opcode::ping));
  EXPECT_TRUE(is_control(Opcode::pong));
}

TEST(FrameControl, ControlFrameWithoutFinIsRejected) {
  for (std::uint8_t op : {0x8, 0x9, 0xA}) {
    EXPECT_EQ(decode_error({op, 0x00}), ProtocolError::fragmented_control_frame);
    FrameHeader h;
    const auto first_byte = decode_exact({op}, h);
    EXPECT_EQ(first_byte.error, ProtocolError::fragmented_control_frame);
    expect_header({static_cast<std::uint8_t>(0x80 | op), 0x00},
                  make_header(static_cast<Opcode>(op), 0));
  }
  // Data frames may be fragmented.
  for (std::uint8_t op : {0x0, 0x1, 0x2}) {
    expect_header({op, 0x00}, make_header(static_cast<Opcode>(op), 0, false));
  }
}

TEST(FrameControl, ControlPayloadAbove125IsRejected) {
  for (std::uint8_t op : {0x88, 0x89, 0x8A}) {
    expect_header({op, 0x7D}, make_header(static_cast<Opcode>(op & 0x0F), 125));
    EXPECT_EQ(decode_error({op, 0x7E, 0x00, 0x7E}), ProtocolError::control_frame_too_long);
    EXPECT_EQ(decode_error({op, 0xFE, 0xFF, 0xFF}), ProtocolError::control_frame_too_long);
    EXPECT_EQ(decode_error({op, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}),
              ProtocolError::control_frame_too_long);
    // A short length in a long form is first of all not minimal.
    EXPECT_EQ(decode_error({op, 0x7E, 0x00, 0x05}), ProtocolError::non_minimal_length);
  }
  // Data frames of the same sizes are fine.
  expect_header({0x81, 0x7E, 0x00, 0x7E}, make_header(Opcode::text, 126));
}

TEST(FrameDecode, ReservedBitsAreDecodedNotJudged) {
  FrameHeader h;
  ASSERT_EQ(decode_exact({0xF1, 0x00}, h).status, DecodeStatus::ok);
  EXPECT_TRUE(h.rsv1);
  EXPECT_TRUE(h.rsv2);
  EXPECT_TRUE(h.rsv3);
  ASSERT_EQ(decode_exact({0xA2, 0x00}, h).status, DecodeStatus::ok);
  EXPECT_FALSE(h.rsv1);
  EXPECT_TRUE(h.rsv2);
  EXPECT_FALSE(h.rsv3);
}

TEST(FrameDecode, OutIsUntouchedOnError) {
  FrameHeader h = make_header(Opcode::pong, 77);
  EXPECT_EQ(decode_exact({0x82, 0x7E, 0x00, 0x01}, h).status, DecodeStatus::error);
  EXPECT_TRUE(same(h, make_header(Opcode::pong, 77)));
}

// Random bytes: the decoder never reads past the end (ASan), and whatever decodes is the
// canonical encoding of its header, since only minimal lengths are accepted.
TEST(FrameDecode, RandomInputRoundTripsThroughEncode) {
  std::mt19937_64 rng(99);
  int decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    Bytes data(rng() % 16);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    if (!data.empty() && (rng() & 1)) data[0] = (data[0] & 0xF0) | (rng() % 3);  // data opcodes
    if (data.size() > 1 && (rng() & 1)) data[1] = (data[1] & 0x80) | (126 + rng() % 2);
    FrameHeader h;
    const auto r = decode_exact(data, h);
    if (r.status == DecodeStatus::ok) {
      ++decoded;
      ASSERT_LE(r.header_size, data.size());
      ASSERT_EQ(encode(h), Bytes(data.begin(), data.begin() + r.header_size));
    } else if (r.status == DecodeStatus::need_more) {
      ASSERT_LT(data.size(), max_frame_header_size);
    }
  }
  EXPECT_GT(decoded, 1000);
}

// ---- encode ----------------------------------------------------------------------------

TEST(FrameEncode, UsesMinimalLengthAndWritesMaskKey) {
  EXPECT_EQ(encode(make_header(Opcode::text, 0)), (Bytes{0x81, 0x00}));
  EXPECT_EQ(encode(make_header(Opcode::text, 125)), (Bytes{0x81, 0x7D}));
  EXPECT_EQ(encode(make_header(Opcode::text, 126)), (Bytes{0x81, 0x7E, 0x00, 0x7E}));
  EXPECT_EQ(encode(make_header(Opcode::text, 0xFFFF)), (Bytes{0x81, 0x7E, 0xFF, 0xFF}));
  EXPECT_EQ(encode(make_header(Opcode::binary, 0x10000)),
            (Bytes{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(encode(make_header(Opcode::close, 2, true, true, {0xAA, 0xBB, 0xCC, 0xDD})),
            (Bytes{0x88, 0x82, 0xAA, 0xBB, 0xCC, 0xDD}));
  EXPECT_EQ(encode(make_header(Opcode::binary, 0x10000, false, true, {9, 8, 7, 6})),
            (Bytes{0x02, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 9, 8, 7, 6}));
  // An unmasked header does not write its (ignored) key.
  EXPECT_EQ(encode(make_header(Opcode::text, 3, true, false, {1, 2, 3, 4})), (Bytes{0x81, 0x03}));
}

TEST(FrameEncode, WritesReservedBits) {
  FrameHeader h = make_header(Opcode::text, 1);
  h.rsv1 = true;
  EXPECT_EQ(encode(h), (Bytes{0xC1, 0x01}));
  h.rsv1 = false;
  h.rsv2 = true;
  EXPECT_EQ(encode(h), (Bytes{0xA1, 0x01}));
  h.rsv2 = false;
  h.rsv3 = true;
  EXPECT_EQ(encode(h), (Bytes{0x91, 0x01}));
}

TEST(FrameEncode, HeaderSizeMatchesFrameHeaderSize) {
  for (std::uint64_t n : {0ull, 1ull, 125ull, 126ull, 127ull, 0xFFFFull, 0x10000ull, 0xFFFFFFFFull,
                          0x7FFFFFFFFFFFFFFFull}) {
    for (bool masked : {false, true}) {
      const auto bytes = encode(make_header(Opcode::binary, n, true, masked, {1, 2, 3, 4}));
      EXPECT_EQ(bytes.size(), frame_header_size(n, masked)) << n;
      FrameHeader back;
      const auto r = decode_exact(bytes, back);
      ASSERT_EQ(r.status, DecodeStatus::ok) << n;
      EXPECT_EQ(back.payload_length, n);
      EXPECT_EQ(back.masked, masked);
    }
  }
}

// ---- check_frame_header: role-mirrored pairs --------------------------------------------

TEST(FrameCheck, ServerRequiresMaskedFrames) {
  const auto masked = make_header(Opcode::text, 1, true, true, {1, 2, 3, 4});
  const auto unmasked = make_header(Opcode::text, 1);
  EXPECT_EQ(check_frame_header(masked, Role::server, false), ProtocolError::none);
  EXPECT_EQ(check_frame_header(unmasked, Role::server, false),
            ProtocolError::unmasked_client_frame);
  // Control frames too.
  EXPECT_EQ(check_frame_header(make_header(Opcode::ping, 0), Role::server, true),
            ProtocolError::unmasked_client_frame);
}

TEST(FrameCheck, ClientRejectsMaskedFrames) {
  const auto masked = make_header(Opcode::text, 1, true, true, {1, 2, 3, 4});
  const auto unmasked = make_header(Opcode::text, 1);
  EXPECT_EQ(check_frame_header(unmasked, Role::client, false), ProtocolError::none);
  EXPECT_EQ(check_frame_header(masked, Role::client, false), ProtocolError::masked_server_frame);
  EXPECT_EQ(check_frame_header(make_header(Opcode::close, 0, true, true), Role::client, true),
            ProtocolError::masked_server_frame);
}

// A header as the given receiver's peer must send it.
FrameHeader from_peer(Role receiver, Opcode op, bool rsv1, bool rsv2, bool rsv3) {
  FrameHeader h = make_header(op, 0, true, receiver == Role::server, {1, 2, 3, 4});
  h.rsv1 = rsv1;
  h.rsv2 = rsv2;
  h.rsv3 = rsv3;
  return h;
}

TEST(FrameCheck, Rsv2AndRsv3AreAlwaysRejected) {
  for (Role role : {Role::server, Role::client}) {
    for (bool negotiated : {false, true}) {
      for (Opcode op : {Opcode::text, Opcode::continuation, Opcode::ping}) {
        EXPECT_EQ(check_frame_header(from_peer(role, op, false, true, false), role, negotiated),
                  ProtocolError::reserved_bits_set);
        EXPECT_EQ(check_frame_header(from_peer(role, op, false, false, true), role, negotiated),
                  ProtocolError::reserved_bits_set);
        EXPECT_EQ(check_frame_header(from_peer(role, op, true, true, true), role, negotiated),
                  ProtocolError::reserved_bits_set);
      }
    }
  }
}

TEST(FrameCheck, Rsv1WithoutNegotiationIsRejected) {
  for (Role role : {Role::server, Role::client}) {
    for (Opcode op : {Opcode::text, Opcode::binary, Opcode::continuation, Opcode::close,
                      Opcode::ping, Opcode::pong}) {
      EXPECT_EQ(check_frame_header(from_peer(role, op, true, false, false), role, false),
                ProtocolError::reserved_bits_set);
      EXPECT_EQ(check_frame_header(from_peer(role, op, false, false, false), role, false),
                ProtocolError::none);
    }
  }
}

TEST(FrameCheck, NegotiatedRsv1OnlyOnDataOpcodes) {
  for (Role role : {Role::server, Role::client}) {
    EXPECT_EQ(check_frame_header(from_peer(role, Opcode::text, true, false, false), role, true),
              ProtocolError::none);
    EXPECT_EQ(check_frame_header(from_peer(role, Opcode::binary, true, false, false), role, true),
              ProtocolError::none);
    EXPECT_EQ(
        check_frame_header(from_peer(role, Opcode::continuation, true, false, false), role, true),
        ProtocolError::compressed_continuation);
    for (Opcode op : {Opcode::close, Opcode::ping, Opcode::pong}) {
      EXPECT_EQ(check_frame_header(from_peer(role, op, true, false, false), role, true),
                ProtocolError::compressed_control_frame);
      EXPECT_EQ(check_frame_header(from_peer(role, op, false, false, false), role, true),
                ProtocolError::none);
    }
    EXPECT_EQ(
        check_frame_header(from_peer(role, Opcode::continuation, false, false, false), role, true),
        ProtocolError::none);
  }
}

}  // namespace
}  // namespace wsx::proto

namespace wsx::proto {
namespace {

TEST(OpcodeName, NamesEveryOpcodeAsDeveloperToolsDo) {
  EXPECT_EQ(opcode_name(Opcode::continuation), "cont");
  EXPECT_EQ(opcode_name(Opcode::text), "text");
  EXPECT_EQ(opcode_name(Opcode::binary), "binary");
  EXPECT_EQ(opcode_name(Opcode::close), "close");
  EXPECT_EQ(opcode_name(Opcode::ping), "ping");
  EXPECT_EQ(opcode_name(Opcode::pong), "pong");
  EXPECT_EQ(opcode_name(static_cast<Opcode>(0x3)), "?");
}

}  // namespace
}  // namespace wsx::proto
