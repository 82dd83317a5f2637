#include "send_batch.hpp"

#include <cerrno>
#include <thread>

#ifdef WSX_HAVE_LIBURING
#include <liburing.h>
#endif

namespace wsx::io::detail {
namespace {

// Each send is tried once: a full socket answers EAGAIN at once instead of the request being
// parked in the kernel until there is room (the loop's write interest waits for that, as for
// a plain send).
constexpr int send_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
constexpr std::uint64_t cancel_token = UINT64_MAX;  // user_data of the cancel request

IoResult result_of(int res) noexcept {
  if (res >= 0) return {IoStatus::ok, static_cast<std::size_t>(res), 0};
  if (res == -EAGAIN || res == -EWOULDBLOCK || res == -ECANCELED)
    return {IoStatus::would_block, 0, 0};
  return {IoStatus::error, 0, -res};
}

}  // namespace

#ifdef WSX_HAVE_LIBURING

struct SendBatch::Ring {
  // Enough for the sends of a busy pass; a larger pass goes in several submissions.
  static constexpr unsigned entries = 256;
  io_uring ring{};
  bool ready = false;
  std::thread::id owner = std::this_thread::get_id();

  Ring() {
    io_uring_params params{};
    // One thread submits (the loop's), and completions are reaped right after submitting: the
    // kernel need not interrupt the thread to post them. SUBMIT_ALL: one failed entry does not
    // leave the rest unsubmitted.
    params.flags =
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init_params(entries, &ring, &params) != 0) {
      params = {};
      params.flags = IORING_SETUP_SUBMIT_ALL;
      if (io_uring_queue_init_params(entries, &ring, &params) != 0) return;
    }
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    const bool sends = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_SEND) &&
                       io_uring_opcode_supported(probe, IORING_OP_SENDMSG) &&
                       io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL);
    if (probe != nullptr) io_uring_free_probe(probe);
    if (!sends) {
      io_uring_queue_exit(&ring);
      return;
    }
    ready = true;
  }
  ~Ring() {
    if (ready) io_uring_queue_exit(&ring);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
};

#else

struct SendBatch::Ring {
  bool ready = false;
  std::thread::id owner;
};

#endif

SendBatch::SendBatch() = default;
SendBatch::~SendBatch() = default;

bool SendBatch::available() noexcept {
  // The ring is its creator thread's alone (IORING_SETUP_SINGLE_ISSUER): a loop run by another
  // thread later sets up a ring of its own.
  if (ring_ != nullptr && ring_->owner != std::this_thread::get_id()) {
    ring_.reset();
    tried_ = false;
  }
  if (!tried_) {
    tried_ = true;
    try {
      ring_ = std::make_unique<Ring>();
      if (!ring_->ready) ring_.reset();
    } catch (...) {  // out of memory: write one by one
      ring_.reset();
    }
  }
  return ring_ != nullptr;
}

void SendBatch::add(int fd, std::uint32_t generation, std::span<const ConstBuffer> buffers) {
  const std::size_t first = vectors_.size();
  std::size_t total = 0;
  for (const ConstBuffer& buffer : buffers) {
    if (vectors_.size() - first == TcpSocket::max_write_buffers) break;
    if (buffer.empty()) continue;
    vectors_.push_back({const_cast<std::uint8_t*>(buffer.data()), buffer.size()});
    total += buffer.size();
  }
  writes_.push_back({fd, generation, total, vectors_.size() - first, {}});
  first_vector_.push_back(first);
  messages_.emplace_back();  // room now: submit() must not allocate
}

void SendBatch::clear() noexcept {
  writes_.clear();
  vectors_.clear();
  first_vector_.clear();
  messages_.clear();
}

std::span<SendBatch::Write> SendBatch::submit() noexcept {
  // IoStatus::closed marks a write not made yet (a send never reports it).
  for (Write& write : writes_) write.result = {IoStatus::closed, 0, 0};
  if (ring_ != nullptr && !submit_through_ring()) ring_.reset();  // closing it drops the rest
  write_the_rest();
  return writes_;
}

// Plain sends for the writes the ring did not make (all of them without one).
void SendBatch::write_the_rest() noexcept {
  for (std::size_t i = 0; i < writes_.size(); ++i) {
    Write& write = writes_[i];
    if (write.result.status != IoStatus::closed) continue;
    msghdr message{};
    message.msg_iov = vectors_.data() + first_vector_[i];
    message.msg_iovlen = write.count;
    for (;;) {
      const ssize_t n = ::sendmsg(write.fd, &message, send_flags);
      if (n >= 0) {
        write.result = {IoStatus::ok, static_cast<std::size_t>(n), 0};
        break;
      }
      if (errno == EINTR) continue;
      write.result = result_of(-errno);
      break;
    }
  }
}

#ifdef WSX_HAVE_LIBURING

// Returns false when the ring failed: batching ends for this loop, and the writes it did not
// complete are still marked closed (they were not made).
bool SendBatch::submit_through_ring() noexcept {
  io_uring& ring = ring_->ring;
  std::size_t next = 0;
  while (next < writes_.size()) {
    const std::size_t end = std::min(writes_.size(), next + Ring::entries);
    for (std::size_t i = next; i < end; ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);  // never null: the ring is empty between chunks
      const Write& write = writes_[i];
      iovec* vectors = vectors_.data() + first_vector_[i];
      if (write.count == 1) {
        // send: no msghdr or iovec array for the kernel to copy in.
        io_uring_prep_send(sqe, write.fd, vectors[0].iov_base, vectors[0].iov_len, send_flags);
      } else {
        msghdr& message = messages_[i];
        message = {};
        message.msg_iov = vectors;
        message.msg_iovlen = write.count;
        io_uring_prep_sendmsg(sqe, write.fd, &message, send_flags);
      }
      sqe->user_data = i;
    }
    int submitted;
    do {
      submitted = io_uring_submit(&ring);
    } while (submitted == -EINTR);
    if (submitted < 0) return false;  // none taken: they go with the ring
    if (!reap(static_cast<std::size_t>(submitted))) return false;
    next = end;
  }
  return true;
}

// A send tried once completes while it is submitted. Should a kernel park one instead (not
// expected with MSG_DONTWAIT), it gets 100 ms, then it is cancelled and counts as a full socket.
bool SendBatch::reap(std::size_t count) noexcept {
  io_uring& ring = ring_->ring;
  bool cancelled = false;
  std::size_t reaped = 0;
  while (reaped < count) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec wait{0, 100'000'000};
    const int got = io_uring_wait_cqe_timeout(&ring, &cqe, &wait);
    if (got == -EINTR) continue;
    if (got == -ETIME && !cancelled) {
      io_uring_sqe* cancel = io_uring_get_sqe(&ring);
      if (cancel == nullptr) return false;
      io_uring_prep_cancel64(cancel, 0, IORING_ASYNC_CANCEL_ANY);
      cancel->user_data = cancel_token;
      io_uring_submit(&ring);
      cancelled = true;
      continue;
    }
    // Still nothing after the cancel, or the ring failed: its requests are abandoned with it.
    if (got != 0) return false;
    if (cqe->user_data != cancel_token && cqe->user_data < writes_.size()) {
      writes_[cqe->user_data].result = result_of(cqe->res);
      ++reaped;
    }
    io_uring_cqe_seen(&ring, cqe);
  }
  return !cancelled;  // a kernel that parks sends is not used again
}

#else

bool SendBatch::submit_through_ring() noexcept {
  return false;
}

bool SendBatch::reap(std::size_t) noexcept {
  return false;
}

#endif

}  // namespace wsx::io::detail
