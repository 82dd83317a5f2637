// UTF-8 validation (RFC 3629 §4; Unicode Table 3-7, "Well-Formed UTF-8 Byte Sequences").
//
// The state machine below accepts exactly the sequences of that table. Its transition table has
// one 64-bit row per byte value; each state is a multiple of 6 and the row holds the next state
// for every state, 6 bits each, at the state's own offset. A step is then a load that does not
// depend on the state, a shift and a mask — one short dependency chain per byte.
#include "wsx/proto/utf8.hpp"

#include <cstring>

#include "utf8_internal.hpp"

namespace wsx::proto {
namespace detail {
namespace {

// The states, as the constraint on the next byte.
enum State : std::uint32_t {
  accept = 0,          // between characters
  reject = 1,          // a byte was invalid
  need1 = 2,           // one more continuation byte (80..BF)
  need2 = 3,           // two more, the next one 80..BF
  need3 = 4,           // three more, the next one 80..BF
  need2_after_e0 = 5,  // E0: next A0..BF, else the form is overlong
  need2_after_ed = 6,  // ED: next 80..9F, else it encodes a surrogate
  need3_after_f0 = 7,  // F0: next 90..BF, else the form is overlong
  need3_after_f4 = 8,  // F4: next 80..8F, else the code point is above U+10FFFF
  state_count = 9,
};

constexpr std::uint32_t bits_per_state = 6;
static_assert(state_count * bits_per_state <= 64);
static_assert(accept * bits_per_state == utf8_accept);
static_assert(reject * bits_per_state == utf8_reject);

constexpr bool in(std::uint8_t byte, std::uint8_t low, std::uint8_t high) {
  return byte >= low && byte <= high;
}

constexpr State next_state(State state, std::uint8_t byte) {
  switch (state) {
    case accept:
      if (byte <= 0x7F) return accept;
      if (in(byte, 0xC2, 0xDF)) return need1;
      if (byte == 0xE0) return need2_after_e0;
      if (byte == 0xED) return need2_after_ed;
      if (in(byte, 0xE1, 0xEF)) return need2;
      if (byte == 0xF0) return need3_after_f0;
      if (in(byte, 0xF1, 0xF3)) return need3;
      if (byte == 0xF4) return need3_after_f4;
      return reject;  // 80..BF (no character to continue), C0, C1, F5..FF
    case need1:
      return in(byte, 0x80, 0xBF) ? accept : reject;
    case need2:
      return in(byte, 0x80, 0xBF) ? need1 : reject;
    case need3:
      return in(byte, 0x80, 0xBF) ? need2 : reject;
    case need2_after_e0:
      return in(byte, 0xA0, 0xBF) ? need1 : reject;
    case need2_after_ed:
      return in(byte, 0x80, 0x9F) ? need1 : reject;
    case need3_after_f0:
      return in(byte, 0x90, 0xBF) ? need2 : reject;
    case need3_after_f4:
      return in(byte, 0x80, 0x8F) ? need2 : reject;
    default:
      return reject;
  }
}

struct TransitionTable {
  std::uint64_t rows[256];
};

constexpr TransitionTable make_table() {
  TransitionTable table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    std::uint64_t row = 0;
    for (std::uint32_t s = 0; s < state_count; ++s) {
      const std::uint64_t next = next_state(static_cast<State>(s), static_cast<std::uint8_t>(byte));
      row |= (next * bits_per_state) << (s * bits_per_state);
    }
    table.rows[byte] = row;
  }
  return table;
}

constexpr TransitionTable transitions = make_table();

inline std::uint32_t step(std::uint32_t state, std::uint8_t byte) noexcept {
  return static_cast<std::uint32_t>(transitions.rows[byte] >> state) & 63;
}

constexpr std::uint64_t high_bits = 0x8080808080808080ull;

}  // namespace

std::uint32_t utf8_step(std::uint32_t state, std::uint8_t byte) noexcept {
  return step(state, byte);
}

std::uint32_t utf8_validate_scalar(std::uint32_t state, const std::uint8_t* data,
                                   std::size_t size) noexcept {
  std::size_t i = 0;
  while (i < size && state != utf8_reject) {
    if (state == utf8_accept) {
      while (i + 16 <= size) {
        std::uint64_t a;
        std::uint64_t b;
        std::memcpy(&a, data + i, 8);
        std::memcpy(&b, data + i + 8, 8);
        if (((a | b) & high_bits) != 0) break;
        i += 16;
      }
    }
    // Reject is final, so checking for it once per 16 bytes is enough.
    const std::size_t stop = size - i < 16 ? size : i + 16;
    for (; i < stop; ++i) state = step(state, data[i]);
  }
  return state;
}

}  // namespace detail

namespace {

using Validate = std::uint32_t (*)(std::uint32_t, const std::uint8_t*, std::size_t) noexcept;

Validate best_validator() noexcept {
#if WSX_X86_64
  if (detail::cpu_has_avx2()) return detail::utf8_validate_avx2;
#endif
  return detail::utf8_validate_scalar;
}

// Below this the vector path has nothing to gain.
constexpr std::size_t vector_threshold = 64;

}  // namespace

bool Utf8Validator::feed(const std::uint8_t* data, std::size_t size) noexcept {
  static_assert(reject_state == detail::utf8_reject);
  static const Validate validate = best_validator();
  state_ = size < vector_threshold ? detail::utf8_validate_scalar(state_, data, size)
                                   : validate(state_, data, size);
  return state_ != reject_state;
}

bool is_valid_utf8(const std::uint8_t* data, std::size_t size) noexcept {
  // Short ASCII text (a chat line, a small JSON message) is the common case of a whole message
  // checked at once: one OR over its words answers it without the state machine.
  if (size <= 32) {
    std::uint64_t bits = 0;
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      std::uint64_t word;
      std::memcpy(&word, data + i, sizeof word);
      bits |= word;
    }
    for (; i < size; ++i) bits |= data[i];
    if ((bits & detail::high_bits) == 0) return true;
  }
  Utf8Validator validator;
  return validator.feed(data, size) && validator.complete();
}

}  // namespace wsx::proto
