// decode_frame_header on arbitrary bytes: never reads past the input (ASan), and whatever it
// accepts is the canonical (minimal) encoding of the header it returns.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "wsx/proto/frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wsx::proto;
  FrameHeader header;
  const FrameDecodeResult result = decode_frame_header(data, size, header);
  if (result.status == DecodeStatus::ok) {
    std::uint8_t encoded[max_frame_header_size];
    const std::size_t n = encode_frame_header(header, encoded);
    if (n != result.header_size || std::memcmp(encoded, data, n) != 0) std::abort();
    for (Role role : {Role::client, Role::server}) {
      for (bool negotiated : {false, true}) (void)check_frame_header(header, role, negotiated);
    }
  } else if (result.status == DecodeStatus::need_more && size >= max_frame_header_size) {
    std::abort();  // 14 bytes always hold a whole header
  }
  return 0;
}
