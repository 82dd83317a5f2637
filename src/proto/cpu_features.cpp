#include "cpu_features.hpp"

#if WSX_X86_64
namespace wsx::proto::detail {

bool cpu_has_avx2() noexcept {
  // May run before static constructors (from another one), so make sure the CPU was probed.
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

}  // namespace wsx::proto::detail
#endif
