#include "cpu_features.hpp"

#if WSX_X86_64
#include <cpuid.h>

namespace wsx::proto::detail {

bool cpu_has_avx2() noexcept {
  // May run before static constructors (from another one), so make sure the CPU was probed.
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

bool cpu_has_sha() noexcept {
  // CPUID directly: not every compiler's __builtin_cpu_supports knows "sha" (clang 14 does not).
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool sse = (ecx & bit_SSSE3) != 0 && (ecx & bit_SSE4_1) != 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return sse && (ebx & bit_SHA) != 0;
}

}  // namespace wsx::proto::detail
#endif
