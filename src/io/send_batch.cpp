#include "send_batch.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#ifdef WSX_HAVE_LIBURING
#include <liburing.h>
#endif

namespace wsx::io::detail {
namespace {

// Each send is tried once: with MSG_DONTWAIT the kernel completes the request while it is
// submitted (io_uring marks it REQ_F_NOWAIT: a full socket answers -EAGAIN at once instead of
// the request being parked until there is room), so every completion is there when
// io_uring_submit() returns and nothing is in flight afterwards.
constexpr int send_flags = MSG_NOSIGNAL | MSG_DONTWAIT;

IoResult result_of(int res) noexcept {
  if (res >= 0) return {IoStatus::ok, static_cast<std::size_t>(res), 0};
  // ENOMEM/ENOBUFS: no memory for the request now, which a later write may have; the stream
  // waits for room as for a full socket and then writes on its own.
  if (res == -EAGAIN || res == -EWOULDBLOCK || res == -ENOMEM || res == -ENOBUFS) {
    return {IoStatus::would_block, 0, 0};
  }
  return {IoStatus::error, 0, -res};
}

}  // namespace

#ifdef WSX_HAVE_LIBURING

struct SendBatch::Ring {
  // Enough for the sends of a busy pass; a larger pass goes in several submissions.
  static constexpr unsigned entries = 256;
  io_uring ring{};
  bool ready = false;
  // The thread (and so the process: a fork's child differs) that set it up: SINGLE_ISSUER
  // refuses any other, and a child must not touch the ring it shares with its parent.
  pid_t owner = ::gettid();

  Ring() {
    io_uring_params params{};
    // One thread submits (the loop's), and completions are reaped right after submitting: the
    // kernel need not interrupt the thread to post them. SUBMIT_ALL: one failed entry does not
    // stop the others. (5.18 for SUBMIT_ALL, 6.1 for DEFER_TASKRUN.)
    params.flags =
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init_params(entries, &ring, &params) != 0) {
      params = {};
      params.flags = IORING_SETUP_SUBMIT_ALL;
      if (io_uring_queue_init_params(entries, &ring, &params) != 0) return;
    }
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    const bool sends = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_SEND) &&
                       io_uring_opcode_supported(probe, IORING_OP_SENDMSG);
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
  pid_t owner = 0;
};

#endif

SendBatch::SendBatch() = default;
SendBatch::~SendBatch() = default;

bool SendBatch::available() noexcept {
  if (ring_ != nullptr && ring_->owner != ::gettid()) {
    ring_.reset();  // another thread's, or the parent process's: a ring of our own
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

void SendBatch::add(int fd, std::uint32_t generation, std::span<const ConstBuffer> buffers,
                    bool more_may_wait) {
  const std::size_t first = vectors_.size();
  std::size_t total = 0;
  for (const ConstBuffer& buffer : buffers) {
    if (vectors_.size() - first == TcpSocket::max_write_buffers) break;
    if (buffer.empty()) continue;
    vectors_.push_back({const_cast<std::uint8_t*>(buffer.data()), buffer.size()});
    total += buffer.size();
  }
  writes_.push_back({fd, generation, total, vectors_.size() - first, more_may_wait, {}});
  first_vector_.push_back(first);
  messages_.emplace_back();  // room now: submit() must not allocate
}

void SendBatch::clear() noexcept {
  writes_.clear();
  vectors_.clear();
  first_vector_.clear();
  messages_.clear();
}

std::span<const SendBatch::Write> SendBatch::submit() noexcept {
  // IoStatus::closed marks a write not made yet (a send never reports it).
  for (Write& write : writes_) write.result = {IoStatus::closed, 0, 0};
  // One write gains nothing from the ring: the same one system call.
  if (writes_.size() > 1 && ring_ != nullptr && !submit_through_ring()) {
    ring_.reset();  // closing it drops what it did not take
  }
  write_the_rest();
  return writes_;
}

// One writer (the loop's thread): a plain store, no read-modify-write.
void SendBatch::count_ring_writes(std::size_t writes) noexcept {
  ring_writes_.store(ring_writes_.load(std::memory_order_relaxed) + writes,
                     std::memory_order_relaxed);
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
// take are still marked closed (not made) for write_the_rest(). Every write it took has its
// result: the requests complete while they are submitted (send_flags), none is left in flight.
bool SendBatch::submit_through_ring() noexcept {
  io_uring& ring = ring_->ring;
  std::size_t next = 0;
  while (next < writes_.size()) {
    const std::size_t end = std::min(writes_.size(), next + Ring::entries);
    for (std::size_t i = next; i < end; ++i) {
      // Never null: the submission queue is empty here (every earlier chunk went in whole).
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
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
    // The kernel may take fewer than offered (no memory for requests): the rest stay in the
    // submission queue, and are dropped with the ring, never submitted later behind our back.
    const std::size_t taken = submitted > 0 ? static_cast<std::size_t>(submitted) : 0;
    std::size_t reaped = 0;
    while (reaped < taken) {
      io_uring_cqe* cqe = nullptr;
      const int got = io_uring_wait_cqe(&ring, &cqe);  // posted already: no system call
      if (got == -EINTR) continue;
      if (got != 0) {
        // Not expected (the completions are posted). The writes taken but not reaped may have
        // been made: they fail rather than go out twice.
        for (std::size_t i = next; i < next + taken; ++i) {
          if (writes_[i].result.status == IoStatus::closed)
            writes_[i].result = {IoStatus::error, 0, EIO};
        }
        count_ring_writes(reaped);
        return false;
      }
      if (cqe->user_data >= next && cqe->user_data < end) {
        writes_[cqe->user_data].result = result_of(cqe->res);
        ++reaped;
      }
      io_uring_cqe_seen(&ring, cqe);
    }
    count_ring_writes(reaped);
    if (taken < end - next) return false;
    next = end;
  }
  return true;
}

#else

bool SendBatch::submit_through_ring() noexcept {
  return false;
}

#endif

}  // namespace wsx::io::detail
