// UTF-8 validation, differential: the portable state machine, the vector path (when the CPU has
// it) and the public validator fed in pieces (the first input byte picks the piece size) must
// agree on every input.
#include <cstdint>
#include <cstdlib>

#include "../../src/proto/utf8_internal.hpp"
#include "wsx/proto/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wsx::proto;
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 97;
  ++data;
  --size;
  const std::uint32_t scalar = detail::utf8_validate_scalar(detail::utf8_accept, data, size);
#if WSX_X86_64
  if (detail::cpu_has_avx2() &&
      detail::utf8_validate_avx2(detail::utf8_accept, data, size) != scalar) {
    std::abort();
  }
#endif
  Utf8Validator validator;
  bool ok = true;
  std::size_t failed_piece_start = 0;
  for (std::size_t pos = 0; pos < size && ok; pos += piece) {
    const std::size_t n = size - pos < piece ? size - pos : piece;
    ok = validator.feed(data + pos, n);
    if (!ok) failed_piece_start = pos;
  }
  if (ok != (scalar != detail::utf8_reject)) std::abort();
  if (ok && validator.complete() != (scalar == detail::utf8_accept)) std::abort();
  if (!ok) {
    // The bytes before the failing piece were a valid prefix.
    if (detail::utf8_validate_scalar(detail::utf8_accept, data, failed_piece_start) ==
        detail::utf8_reject) {
      std::abort();
    }
  }
  if (is_valid_utf8(data, size) != (scalar == detail::utf8_accept)) std::abort();
  return 0;
}
