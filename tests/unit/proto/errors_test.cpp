#include "wsx/proto/errors.hpp"

#include <gtest/gtest.h>

namespace wsx::proto {
namespace {

TEST(CloseCodeFor, Utf8IsInvalidPayload1007) {
  EXPECT_EQ(close_code_for(ProtocolError::invalid_utf8), CloseCode::invalid_payload);
}

TEST(CloseCodeFor, SizeLimitsAreMessageTooBig1009) {
  EXPECT_EQ(close_code_for(ProtocolError::message_too_big), CloseCode::message_too_big);
  EXPECT_EQ(close_code_for(ProtocolError::fragments_too_small), CloseCode::policy_violation);
}

TEST(CloseCodeFor, FramingErrorsAreProtocolError1002) {
  for (auto e : {ProtocolError::unmasked_client_frame, ProtocolError::masked_server_frame,
                 ProtocolError::reserved_bits_set, ProtocolError::reserved_opcode,
                 ProtocolError::fragmented_control_frame, ProtocolError::control_frame_too_long,
                 ProtocolError::non_minimal_length, ProtocolError::length_high_bit_set,
                 ProtocolError::unexpected_continuation, ProtocolError::expected_continuation,
                 ProtocolError::close_payload_too_short, ProtocolError::invalid_close_code,
                 ProtocolError::compressed_control_frame, ProtocolError::compressed_continuation,
                 ProtocolError::inflate_failed, ProtocolError::data_after_close}) {
    EXPECT_EQ(close_code_for(e), CloseCode::protocol_error) << describe(e);
  }
}

TEST(Describe, NamesTheRule) {
  EXPECT_EQ(describe(ProtocolError::unmasked_client_frame),
            "client frame was not masked (RFC 6455 §5.1)");
  EXPECT_NE(describe(ProtocolError::data_after_close).find("5.5.1"), std::string_view::npos);
}

}  // namespace
}  // namespace wsx::proto
