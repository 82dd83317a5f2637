// How far the kernel lets a TCP socket's send buffer grow by itself (autotuning): the third
// field of /proc/sys/net/ipv4/tcp_wmem. Tests that must fill a peer's socket buffers size what
// they send from it instead of assuming Linux's default of 4 MiB, which a tuned host raises.
// (A receive buffer they set explicitly with SO_RCVBUF is not autotuned: getsockopt says it.)
#pragma once

#include <cstddef>
#include <fstream>

namespace wsx::test {

// Linux's default when the file cannot be read (no /proc).
inline std::size_t tcp_send_buffer_ceiling() {
  std::ifstream file("/proc/sys/net/ipv4/tcp_wmem");
  std::size_t minimum = 0, initial = 0, maximum = 0;
  if (!(file >> minimum >> initial >> maximum)) return 4 * 1024 * 1024;
  return maximum;
}

}  // namespace wsx::test
