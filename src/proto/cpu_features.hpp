// Private to src/proto: what the CPU can run, for the hot paths that pick an implementation at
// run time (mask, utf8). x86-64 only; elsewhere the portable versions are used.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#define WSX_X86_64 1
// Marks a function compiled for AVX2 (and the BMI/SSSE3 it implies); call it only after
// cpu_has_avx2() returned true.
#define WSX_TARGET_AVX2 __attribute__((target("avx2")))

// Marks a function compiled for the SHA extensions (and the SSE4.1 they come with); call it
// only after cpu_has_sha() returned true.
#define WSX_TARGET_SHA __attribute__((target("sha,sse4.1")))

namespace wsx::proto::detail {
bool cpu_has_avx2() noexcept;
bool cpu_has_sha() noexcept;  // SHA-NI, SSSE3 and SSE4.1
}  // namespace wsx::proto::detail
#endif
