// The writes of one flush pass handed to the kernel together (io_uring), instead of one send
// system call per socket. A small-message server flushes many sockets per loop iteration, and
// on a virtual machine the system call itself is a large part of what a 16-byte echo costs:
// batched, the sends of a pass cost one io_uring_enter. Private to the io layer.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "wsx/io/tcp_socket.hpp"

namespace wsx::io::detail {

class SendBatch {
 public:
  struct Write {
    int fd;
    std::uint32_t generation;  // the loop's registration, checked before the result is used
    std::size_t total;         // bytes asked for
    std::size_t count;         // non-empty buffers asked for
    bool more_may_wait;        // the handler filled every buffer it was offered
    IoResult result;
  };

  SendBatch();
  ~SendBatch();
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;

  // Whether sends can be batched. The ring is set up on the first call (and again in a new
  // thread or process: it is its creator's alone); when the kernel or the build has no
  // io_uring (ENOSYS, a seccomp filter, kernel.io_uring_disabled, a kernel before 5.18) or a
  // submission failed, this is false and every flush writes on its own, as without it.
  bool available() noexcept;
  // Queues a write of `buffers`; the bytes must stay where they are until submit() returns.
  void add(int fd, std::uint32_t generation, std::span<const ConstBuffer> buffers,
           bool more_may_wait);
  std::size_t size() const noexcept { return writes_.size(); }
  // Writes everything queued, each write once and without waiting for room (a full socket
  // reports would_block, as send() with MSG_DONTWAIT does), and returns the outcomes in the
  // order of add(). Valid until the next add() or clear().
  std::span<const Write> submit() noexcept;
  void clear() noexcept;

  // Writes sent through the ring so far (proof that batching is in use). Any thread: the
  // loop's thread alone writes it, another (Server::batched_writes) may read it meanwhile.
  std::uint64_t ring_writes() const noexcept {
    return ring_writes_.load(std::memory_order_relaxed);
  }

 private:
  struct Ring;
  bool submit_through_ring() noexcept;
  void write_the_rest() noexcept;
  void count_ring_writes(std::size_t writes) noexcept;

  std::unique_ptr<Ring> ring_;
  bool tried_ = false;
  std::atomic<std::uint64_t> ring_writes_{0};
  std::vector<Write> writes_;
  std::vector<iovec> vectors_;             // every write's vectors, one after the other
  std::vector<std::size_t> first_vector_;  // per write: where its vectors start
  std::vector<msghdr> messages_;           // per write (sendmsg when it has several vectors)
};

}  // namespace wsx::io::detail
