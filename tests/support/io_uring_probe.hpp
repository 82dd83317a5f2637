// Whether this process may use io_uring, for the tests of batched sends (EventLoop::
// batched_writes): the batch falls back to one write per socket where it may not (no liburing at
// build time, a seccomp filter, kernel.io_uring_disabled, an old kernel), and the tests expect
// batching exactly where it can happen.
#pragma once

#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

// Both test builds (tests/CMakeLists.txt, tests/tsan/CMakeLists.txt) say whether the library was
// built with liburing; without it the probe below would expect batching that cannot happen.
#ifndef WSX_EXPECT_LIBURING
#error "the build defines WSX_EXPECT_LIBURING: whether the library was built with liburing"
#endif

namespace wsx::test {

inline bool kernel_offers_io_uring() {
#if WSX_EXPECT_LIBURING
  io_uring_params params{};
  params.flags = IORING_SETUP_SUBMIT_ALL;
  const long fd = ::syscall(__NR_io_uring_setup, 4, &params);
  if (fd < 0) return false;
  ::close(static_cast<int>(fd));
  return true;
#else
  return false;
#endif
}

}  // namespace wsx::test
