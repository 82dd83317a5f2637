#include "proto/whole_message_inflate.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#if WSX_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

namespace wsx::proto::detail {

#if WSX_HAVE_LIBDEFLATE

namespace {

// A byte array that only grows, without zeroing what it gains (std::vector would). A plain
// pointer, so that Scratch stays trivially destructible (see below).
struct Room {
  std::uint8_t* bytes = nullptr;
  std::size_t capacity = 0;

  std::uint8_t* at_least(std::size_t size) {
    if (size > capacity) {
      delete[] bytes;
      bytes = nullptr;
      capacity = 0;
      bytes = new std::uint8_t[size];
      capacity = size;
    }
    return bytes;
  }
};

// The calling thread's decompressor (~32 KiB of tables) and buffers. In the shared library each
// use of a thread_local is a __tls_get_addr call (general dynamic: the library may be loaded by
// dlopen, so no initial-exec), and one with a destructor adds its first-use guard to every use.
// So Scratch has no destructor (ScratchRelease frees it at thread exit, its own guarded
// thread_local touched only when a thread first allocates) and each message looks it up once
// (scratch_of_this_thread).
struct Scratch {
  libdeflate_decompressor* decompressor = nullptr;
  Room input;
  Room output;
};
thread_local Scratch thread_scratch;

struct ScratchRelease {
  ~ScratchRelease() {
    libdeflate_free_decompressor(thread_scratch.decompressor);
    delete[] thread_scratch.input.bytes;
    delete[] thread_scratch.output.bytes;
    thread_scratch = {};
  }
};
thread_local ScratchRelease scratch_release;

// Not inlined: inlined, GCC computes the thread_local's address again (a call) at every use.
[[gnu::noinline]] Scratch& scratch_of_this_thread() noexcept {
  return thread_scratch;
}

// The tail the sender removed (the rest of an empty stored block), then an empty stored block
// with BFINAL set: libdeflate stops after a final block, and must stop exactly at its end.
constexpr std::uint8_t trailer[] = {0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff};

// A stored block without BFINAL (header bits 000, padded to the octet) with LEN and NLEN.
constexpr std::size_t stored_header_size = 5;
void write_stored_header(std::uint8_t* at, std::size_t length) {
  const auto len = static_cast<std::uint16_t>(length);
  const auto nlen = static_cast<std::uint16_t>(~len);
  at[0] = 0x00;
  at[1] = static_cast<std::uint8_t>(len & 0xff);
  at[2] = static_cast<std::uint8_t>(len >> 8);
  at[3] = static_cast<std::uint8_t>(nlen & 0xff);
  at[4] = static_cast<std::uint8_t>(nlen >> 8);
}

}  // namespace

bool whole_message_inflate_built_in() noexcept {
  return true;
}

std::optional<WholeMessage> inflate_whole_message(const std::uint8_t* window,
                                                  std::size_t window_size,
                                                  const std::uint8_t* payload, std::size_t size,
                                                  std::size_t max_output) {
  // libdeflate's only distance check is "no further back than its output so far", and it reads
  // distance codes 30 and 31 (offsets 32769 and up) that RFC 1951 and zlib refuse. With window
  // and message within 32 KiB together, no offset above 32768 can pass, so those streams fail
  // here and zlib rejects them. A window that leaves no room sends the message to zlib at once.
  if (window_size >= deflate_max_distance || size > whole_message_max_output) return std::nullopt;
  Scratch& scratch = scratch_of_this_thread();
  if (scratch.decompressor == nullptr) {
    (void)&scratch_release;  // the thread's first use: its scratch is freed at its exit
    scratch.decompressor = libdeflate_alloc_decompressor();
    if (scratch.decompressor == nullptr) throw std::bad_alloc();
  }
  const std::size_t header = window_size > 0 ? stored_header_size : 0;
  const std::size_t input_size = header + window_size + size + sizeof trailer;
  std::uint8_t* in = scratch.input.at_least(input_size);
  if (header > 0) {
    write_stored_header(in, window_size);
    std::memcpy(in + header, window, window_size);
  }
  std::memcpy(in + header + window_size, payload, size);
  std::memcpy(in + header + window_size + size, trailer, sizeof trailer);
  const std::size_t output_capacity =
      std::min(window_size + std::min(max_output, whole_message_max_output), deflate_max_distance);
  std::uint8_t* out = scratch.output.at_least(output_capacity);
  std::size_t input_used = 0;
  std::size_t output_size = 0;
  const libdeflate_result result = libdeflate_deflate_decompress_ex(
      scratch.decompressor, in, input_size, out, output_capacity, &input_used, &output_size);
  // Anything but one final block ending exactly at the trailer's end is zlib's to judge.
  if (result != LIBDEFLATE_SUCCESS || input_used != input_size || output_size < window_size)
    return std::nullopt;
  return WholeMessage{{out, output_size}, window_size};
}

#else  // !WSX_HAVE_LIBDEFLATE

bool whole_message_inflate_built_in() noexcept {
  return false;
}

std::optional<WholeMessage> inflate_whole_message(const std::uint8_t*, std::size_t,
                                                  const std::uint8_t*, std::size_t, std::size_t) {
  return std::nullopt;
}

#endif

}  // namespace wsx::proto::detail
