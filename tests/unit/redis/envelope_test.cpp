#include "redis/envelope.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace wsx::redis {
namespace {

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

TEST(Envelope, RoundTripKeepsKindOriginNodeAndBinaryPayload) {
  const std::string payload("\x00\xff\n\r\x01zz", 7);
  const std::uintptr_t origin = static_cast<std::uintptr_t>(0x0123456789abcdefULL);
  const std::string encoded =
      encode_envelope(MessageKind::binary, origin, "node-1", bytes(payload));
  const std::optional<Envelope> decoded = decode_envelope(encoded);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->kind, MessageKind::binary);
  EXPECT_EQ(decoded->origin, origin);
  EXPECT_EQ(decoded->node, "node-1");
  EXPECT_EQ(
      std::string(reinterpret_cast<const char*>(decoded->payload.data()), decoded->payload.size()),
      payload);

  const std::optional<Envelope> text =
      decode_envelope(encode_envelope(MessageKind::text, 0, "", bytes("hi")));
  ASSERT_TRUE(text);
  EXPECT_EQ(text->kind, MessageKind::text);
  EXPECT_EQ(text->origin, 0u);
  EXPECT_EQ(text->payload.size(), 2u);
}

TEST(Envelope, ChannelMessageCarriesThePosition) {
  const std::string body = "1733-7\n" + encode_envelope(MessageKind::text, 0, "a", bytes("x\ny"));
  const std::optional<ChannelMessage> message = decode_channel_message(body);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->position, "1733-7");
  EXPECT_EQ(message->envelope.payload.size(), 3u);
  const std::optional<ChannelMessage> without =
      decode_channel_message("\n" + encode_envelope(MessageKind::text, 0, "a", bytes("")));
  ASSERT_TRUE(without);
  EXPECT_EQ(without->position, "");
}

TEST(Envelope, ForeignOrTruncatedBytesAreRefused) {
  const std::string good = encode_envelope(MessageKind::text, 1, "node", bytes("p"));
  for (std::size_t size = 0; size < 15; ++size) {  // shorter than header + node id
    EXPECT_FALSE(decode_envelope(good.substr(0, size))) << size;
  }
  std::string other_version = good;
  other_version[0] = 2;
  EXPECT_FALSE(decode_envelope(other_version));
  std::string bad_kind = good;
  bad_kind[1] = 7;
  EXPECT_FALSE(decode_envelope(bad_kind));
  EXPECT_FALSE(decode_channel_message("hello from redis-cli"));
  EXPECT_FALSE(decode_channel_message(std::string(100, '1') + "\n" + good));  // no position
}

}  // namespace
}  // namespace wsx::redis
