// A connected, non-blocking TCP socket: the owner of one fd. Reads into the caller's buffer,
// writes one or several buffers in one gathered call, never raises SIGPIPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "wsx/export.hpp"
#include "wsx/io/socket_address.hpp"

namespace wsx::io {

enum class IoStatus : std::uint8_t {
  ok,           // `bytes` moved (may be fewer than offered: write the rest when writable)
  would_block,  // nothing moved; wait for readiness
  closed,       // read: the peer finished sending (EOF)
  error,        // `error` holds the errno (ECONNRESET, EPIPE, ...)
};

struct WSX_API IoResult {
  IoStatus status = IoStatus::ok;
  std::size_t bytes = 0;
  int error = 0;
};

using ConstBuffer = std::span<const std::uint8_t>;

class WSX_API TcpSocket {
 public:
  // Writes at most this many buffers per call (IOV_MAX is 1024 on Linux; more gains nothing).
  static constexpr std::size_t max_write_buffers = 64;
  // write() makes a larger write in two system calls (tcp_socket.cpp says why).
  static constexpr std::size_t max_single_write = 256 * 1024;

  TcpSocket() = default;
  explicit TcpSocket(int fd) noexcept : fd_(fd) {}  // takes ownership
  ~TcpSocket();
  TcpSocket(TcpSocket&& other) noexcept : fd_(other.release()) {}
  TcpSocket& operator=(TcpSocket&& other) noexcept;
  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;

  int fd() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept;
  // Remove the fd from its event loop first.
  void close() noexcept;

  IoResult read(std::span<std::uint8_t> buffer) noexcept;
  // One read into `first`, then what does not fit into `second` (readv): lets a caller put the
  // bytes it knows the destination of where they belong, and the rest in its usual buffer,
  // without a second system call.
  IoResult read(std::span<std::uint8_t> first, std::span<std::uint8_t> second) noexcept;
  IoResult write(ConstBuffer buffer) noexcept;
  // Gathers the buffers in order into one sendmsg (two for more than 256 KiB: see the
  // source); the first max_write_buffers are used. When the second call fails, the result is
  // the error, with `bytes` counting what the first one sent.
  // `fin_follows`: the caller ends the connection (close() or shutdown_write()) as soon as these
  // bytes are taken, so the kernel may hold the last of them back (MSG_MORE) for its FIN to
  // join them in one segment: one packet fewer for both ends to process. Should the end not
  // come, the held bytes still leave: with the next write, the acknowledgement of earlier ones,
  // or at the latest when the kernel's probe timer fires (about 200 ms).
  IoResult write(std::span<const ConstBuffer> buffers, bool fin_follows = false) noexcept;

  // Half-close: sends FIN after the queued bytes; reading continues.
  std::error_code shutdown_write() noexcept;
  std::error_code set_no_delay(bool enabled) noexcept;
  int pending_error() const noexcept;  // SO_ERROR, cleared by reading it

  SocketAddress local_address() const;
  // Also after the peer reset the connection, as long as this descriptor is open: getpeername
  // fails then (ENOTCONN), the kernel's SO_PEERNAME still answers.
  SocketAddress peer_address() const;

 private:
  int fd_ = -1;
};

}  // namespace wsx::io
