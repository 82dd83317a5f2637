// uring_echo: single-threaded io_uring TCP echo server (no WebSocket at all), the io_uring
// sibling of the shared harness's raw_echo (servers/raw_echo.cpp, epoll): every byte read is
// written back unchanged, TCP_NODELAY, and reading stops while a connection's unsent output is
// 4 MiB or more. It exists to answer issue 13 item 8 — can io_uring buy server CPU per message
// on this machine — before anything is built into wsx's event loop (scripts/uring-bench.sh).
//
// What a fast io_uring server uses, all of it here:
//  - one ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (COOP_TASKRUN when the
//    kernel refuses), its fd registered (io_uring_register_ring_fd);
//  - one multishot accept on the listener;
//  - one multishot recv per connection, reading into a provided-buffer ring: no read syscall;
//  - sends prepared while the completions of a pass are handled and submitted together with the
//    wait for the next ones (io_uring_submit_and_wait): one io_uring_enter per loop pass, no
//    other system call per message.
// No byte is copied in user space: the provided buffers a connection received are queued as
// they are and sent from there (one send, or one sendmsg over several of them), and go back to
// the ring when their bytes are sent. One send per connection is in flight at a time, which
// keeps the bytes in order.
//
// Usage: uring_echo PORT [BIND_ADDR]; URING_ECHO_BUFFERS=COUNTxSIZE sets the provided buffers.
// URING_ECHO_BATCH=N:USEC trades latency for batching: each wait asks for N completions and
// settles for fewer (at least one) after USEC microseconds (io_uring's min_wait, Linux 6.12).
// At exit it prints how the work was cut up (loop passes, receives, sends) to stderr.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

constexpr unsigned kRingEntries = 4096;
constexpr int kBufGroup = 1;
constexpr size_t kMaxPending = 4 * 1024 * 1024;
constexpr unsigned kMaxIov = 16;  // provided buffers one sendmsg takes at most
// The provided buffers: how many (a power of two) and how big. They are handed out in ring
// order, so all of them cycle through the cache.
unsigned g_buf_count = 512;
size_t g_buf_size = 64 * 1024;
// URING_ECHO_BATCH: completions a wait asks for, and how long it holds out for them (0: none).
unsigned g_batch_wait_nr = 1;
unsigned g_batch_min_wait_us = 0;

// What a completion belongs to: the operation in the top byte of user_data, the fd below.
enum Op : uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kIgnore = 4 };
uint64_t tag(Op op, int fd) {
  return (uint64_t(op) << 56) | uint32_t(fd);
}
Op op_of(uint64_t data) {
  return Op(data >> 56);
}
int fd_of(uint64_t data) {
  return int(uint32_t(data));
}

// Received bytes not yet sent back: part of one provided buffer.
struct Segment {
  uint16_t bid;
  uint32_t off;
  uint32_t len;
};

struct Conn {
  bool open = false;
  bool closing = false;      // shut down; the fd is closed once no operation is in flight
  bool recv_armed = false;   // a multishot recv is in the kernel
  bool recv_paused = false;  // backpressure: the recv was cancelled, re-armed when output drains
  bool starved = false;      // the recv ended for want of buffers: re-armed when some come back
  bool send_inflight = false;
  bool queued = false;  // on the list of connections to send for at the end of the pass
  size_t unsent = 0;    // bytes in `out`
  std::deque<Segment> out;
  msghdr msg{};  // the sendmsg in flight, over iov
  iovec iov[kMaxIov]{};
};

class Server {
 public:
  bool init(int lfd);
  void run();

  // How the work was cut up, printed at exit.
  struct Stats {
    uint64_t passes = 0, recvs = 0, recv_bytes = 0, sends = 0, sendmsgs = 0, short_sends = 0,
             enobufs = 0;
  } stats;

 private:
  io_uring_sqe* sqe();
  char* buf(unsigned bid) const { return bufs_ + size_t(bid) * g_buf_size; }
  void arm_recv(int fd);
  void recycle(unsigned bid);
  void on_accept(const io_uring_cqe& cqe);
  void on_recv(const io_uring_cqe& cqe);
  void on_send(const io_uring_cqe& cqe);
  void queue_send(int fd);
  void submit_send(int fd);
  void close_conn(int fd);
  void maybe_release(int fd);
  int submit_and_wait_batched();

  io_uring ring_{};
  io_uring_buf_ring* br_ = nullptr;
  char* bufs_ = nullptr;
  int lfd_ = -1;
  int recycled_ = 0;         // buffers added to the ring this pass, made visible at its end
  unsigned held_ = 0;        // buffers the kernel filled and we have not given back
  std::vector<Conn> conns_;  // indexed by fd
  std::vector<int> to_send_;
  std::vector<int> starved_;
};

io_uring_sqe* Server::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (s == nullptr) {  // the submission queue is full: hand it to the kernel, then go on
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

bool Server::init(int lfd) {
  lfd_ = lfd;
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  p.cq_entries = kRingEntries * 4;
  int rc = io_uring_queue_init_params(kRingEntries, &ring_, &p);
  if (rc == -EINVAL) {
    std::fprintf(stderr, "uring_echo: no DEFER_TASKRUN, using COOP_TASKRUN\n");
    p = io_uring_params{};
    p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = kRingEntries * 4;
    rc = io_uring_queue_init_params(kRingEntries, &ring_, &p);
  }
  if (rc < 0) {
    std::fprintf(stderr, "io_uring_queue_init_params: %s\n", std::strerror(-rc));
    return false;
  }
  io_uring_register_ring_fd(&ring_);               // io_uring_enter without an fd lookup; optional
  constexpr unsigned feat_min_timeout = 1u << 15;  // IORING_FEAT_MIN_TIMEOUT, not in liburing 2.3
  if (g_batch_min_wait_us > 0 && (p.features & feat_min_timeout) == 0) {
    std::fprintf(stderr, "uring_echo: the kernel has no min_wait (URING_ECHO_BATCH)\n");
    return false;
  }

  // The provided-buffer ring: the ring of descriptors, and the buffers it hands out.
  size_t ring_bytes = g_buf_count * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return false;
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
  reg.ring_entries = g_buf_count;
  reg.bgid = kBufGroup;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) {
    std::fprintf(stderr, "io_uring_register_buf_ring: %s\n", std::strerror(-rc));
    return false;
  }
  void* bufs = mmap(nullptr, g_buf_count * g_buf_size, PROT_READ | PROT_WRITE,
                    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (bufs == MAP_FAILED) return false;
  bufs_ = static_cast<char*>(bufs);
  for (unsigned i = 0; i < g_buf_count; ++i)
    io_uring_buf_ring_add(br_, buf(i), unsigned(g_buf_size), uint16_t(i),
                          io_uring_buf_ring_mask(g_buf_count), int(i));
  io_uring_buf_ring_advance(br_, int(g_buf_count));

  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, lfd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, tag(kAccept, lfd_));
  return true;
}

void Server::arm_recv(int fd) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufGroup;
  io_uring_sqe_set_data64(s, tag(kRecv, fd));
  conns_[size_t(fd)].recv_armed = true;
}

void Server::recycle(unsigned bid) {
  io_uring_buf_ring_add(br_, buf(bid), unsigned(g_buf_size), uint16_t(bid),
                        io_uring_buf_ring_mask(g_buf_count), recycled_);
  ++recycled_;
  --held_;
}

void Server::on_accept(const io_uring_cqe& cqe) {
  if (!(cqe.flags & IORING_CQE_F_MORE)) {  // the multishot accept ended: arm it again
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept(s, lfd_, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, tag(kAccept, lfd_));
  }
  if (cqe.res < 0) return;
  int fd = cqe.res;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (size_t(fd) >= conns_.size()) conns_.resize(size_t(fd) * 2 + 64);
  conns_[size_t(fd)] = Conn{};
  conns_[size_t(fd)].open = true;
  arm_recv(fd);
}

void Server::queue_send(int fd) {
  Conn& c = conns_[size_t(fd)];
  if (c.queued || c.send_inflight || c.closing || c.out.empty()) return;
  c.queued = true;
  to_send_.push_back(fd);
}

void Server::on_recv(const io_uring_cqe& cqe) {
  int fd = fd_of(cqe.user_data);
  Conn& c = conns_[size_t(fd)];
  bool more = cqe.flags & IORING_CQE_F_MORE;
  if (!more) c.recv_armed = false;
  if (cqe.res > 0) {
    ++stats.recvs;
    stats.recv_bytes += uint64_t(cqe.res);
    ++held_;
    auto bid = uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    if (c.closing) {
      recycle(bid);
    } else {
      c.out.push_back(Segment{bid, 0, uint32_t(cqe.res)});
      c.unsent += size_t(cqe.res);
      queue_send(fd);
    }
    if (!c.closing && more && !c.recv_paused && c.unsent >= kMaxPending) {
      // Backpressure: stop reading until the peer has taken most of the output.
      io_uring_sqe* s = sqe();
      io_uring_prep_cancel64(s, tag(kRecv, fd), 0);
      io_uring_sqe_set_data64(s, tag(kIgnore, fd));
      c.recv_paused = true;
    }
    if (!more && !c.closing && !c.recv_paused) arm_recv(fd);
  } else if (cqe.res == -ENOBUFS) {
    // Every buffer is out (received, not yet sent back): read again once some come back.
    ++stats.enobufs;
    if (!c.closing && !c.starved) {
      c.starved = true;
      starved_.push_back(fd);
    }
  } else if (cqe.res == -ECANCELED && !c.closing) {
    // Our own backpressure cancel. If the output drained before it took effect, read on.
    if (!c.recv_paused) arm_recv(fd);
  } else if (!more) {
    close_conn(fd);  // 0: the peer closed; < 0: an error
  }
  maybe_release(fd);
}

void Server::submit_send(int fd) {
  Conn& c = conns_[size_t(fd)];
  io_uring_sqe* s = sqe();
  if (c.out.size() == 1) {
    const Segment& seg = c.out.front();
    io_uring_prep_send(s, fd, buf(seg.bid) + seg.off, seg.len - seg.off, MSG_NOSIGNAL);
  } else {
    unsigned n = unsigned(std::min<size_t>(c.out.size(), kMaxIov));
    for (unsigned i = 0; i < n; ++i) {
      const Segment& seg = c.out[i];
      c.iov[i].iov_base = buf(seg.bid) + seg.off;
      c.iov[i].iov_len = seg.len - seg.off;
    }
    c.msg = msghdr{};
    c.msg.msg_iov = c.iov;
    c.msg.msg_iovlen = n;
    io_uring_prep_sendmsg(s, fd, &c.msg, MSG_NOSIGNAL);
    ++stats.sendmsgs;
  }
  io_uring_sqe_set_data64(s, tag(kSend, fd));
  c.send_inflight = true;
  ++stats.sends;
}

void Server::on_send(const io_uring_cqe& cqe) {
  int fd = fd_of(cqe.user_data);
  Conn& c = conns_[size_t(fd)];
  c.send_inflight = false;
  if (cqe.res < 0 || c.closing) {
    close_conn(fd);
    maybe_release(fd);
    return;
  }
  size_t sent = size_t(cqe.res);
  c.unsent -= sent;
  while (sent > 0) {  // give back every buffer whose bytes have all gone out
    Segment& seg = c.out.front();
    size_t take = std::min<size_t>(sent, seg.len - seg.off);
    seg.off += uint32_t(take);
    sent -= take;
    if (seg.off < seg.len) {
      ++stats.short_sends;
      break;
    }
    recycle(seg.bid);
    c.out.pop_front();
  }
  queue_send(fd);
  if (c.recv_paused && c.unsent < kMaxPending / 2) {
    c.recv_paused = false;
    if (!c.recv_armed) arm_recv(fd);
  }
}

void Server::close_conn(int fd) {
  Conn& c = conns_[size_t(fd)];
  if (c.closing) return;
  c.closing = true;
  // Ends the multishot recv and any send in flight; the fd is closed when their completions
  // have come back, so that no completion can reach a later connection on the same fd.
  shutdown(fd, SHUT_RDWR);
  if (c.recv_armed) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, tag(kRecv, fd), 0);
    io_uring_sqe_set_data64(s, tag(kIgnore, fd));
  }
}

void Server::maybe_release(int fd) {
  Conn& c = conns_[size_t(fd)];
  if (!c.closing || c.recv_armed || c.send_inflight || c.queued) return;
  for (const Segment& seg : c.out) recycle(seg.bid);
  close(fd);
  c = Conn{};
}

// io_uring_submit_and_wait with a minimum wait, which liburing 2.3 cannot ask for: the
// submission queue's new tail is published by hand, then one io_uring_enter submits and waits
// (struct io_uring_getevents_arg's `pad` is min_wait_usec since Linux 6.12).
int Server::submit_and_wait_batched() {
  io_uring_sq& sq = ring_.sq;
  const unsigned tail = sq.sqe_tail;
  if (sq.sqe_head != tail) {
    sq.sqe_head = tail;
    io_uring_smp_store_release(sq.ktail, tail);
  }
  const unsigned to_submit = tail - io_uring_smp_load_acquire(sq.khead);
  __kernel_timespec timeout{};
  timeout.tv_sec = 1;  // without any completion for this long, the loop looks at g_stop
  io_uring_getevents_arg arg{};
  arg.pad = g_batch_min_wait_us;
  arg.ts = reinterpret_cast<uintptr_t>(&timeout);
  long rc = syscall(__NR_io_uring_enter, ring_.ring_fd, to_submit, g_batch_wait_nr,
                    IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  if (rc < 0) return errno == ETIME ? 0 : -errno;
  return int(rc);
}

void Server::run() {
  while (!g_stop) {
    int rc =
        g_batch_min_wait_us > 0 ? submit_and_wait_batched() : io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      std::fprintf(stderr, "io_uring_submit_and_wait: %s\n", std::strerror(-rc));
      return;
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      switch (op_of(cqe->user_data)) {
        case kAccept:
          on_accept(*cqe);
          break;
        case kRecv:
          on_recv(*cqe);
          break;
        case kSend:
          on_send(*cqe);
          break;
        default:
          break;
      }
    }
    io_uring_cq_advance(&ring_, seen);
    ++stats.passes;
    for (int fd : to_send_) {
      Conn& c = conns_[size_t(fd)];
      c.queued = false;
      if (!c.closing && !c.send_inflight && !c.out.empty()) submit_send(fd);
      maybe_release(fd);
    }
    to_send_.clear();
    if (recycled_ > 0) {
      io_uring_buf_ring_advance(br_, recycled_);
      recycled_ = 0;
    }
    if (!starved_.empty() && held_ < g_buf_count) {
      for (int fd : starved_) {
        Conn& c = conns_[size_t(fd)];  // may have closed since, or be a later connection
        c.starved = false;
        if (c.open && !c.closing && !c.recv_armed && !c.recv_paused) arm_recv(fd);
      }
      starved_.clear();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PORT [BIND_ADDR]\n", argv[0]);
    return 2;
  }
  int port = std::atoi(argv[1]);
  const char* bind_addr = argc > 2 ? argv[2] : "127.0.0.1";
  if (const char* b = std::getenv("URING_ECHO_BUFFERS")) {
    unsigned count = 0;
    size_t size = 0;
    if (std::sscanf(b, "%ux%zu", &count, &size) != 2 || count == 0 || (count & (count - 1)) ||
        count > 32768 || size == 0 || size > (1u << 30)) {
      std::fprintf(stderr, "URING_ECHO_BUFFERS wants COUNTxSIZE, COUNT a power of two\n");
      return 2;
    }
    g_buf_count = count;
    g_buf_size = size;
  }
  if (const char* b = std::getenv("URING_ECHO_BATCH")) {
    if (std::sscanf(b, "%u:%u", &g_batch_wait_nr, &g_batch_min_wait_us) != 2 ||
        g_batch_wait_nr == 0 || g_batch_min_wait_us == 0) {
      std::fprintf(stderr, "URING_ECHO_BATCH wants N:USEC, both above 0\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  // Without SA_RESTART, so that a signal ends the wait in io_uring_enter.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  inet_pton(AF_INET, bind_addr, &addr.sin_addr);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 4096) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  static Server server;
  if (!server.init(lfd)) return 1;
  server.run();
  const Server::Stats& st = server.stats;
  std::fprintf(
      stderr,
      "uring_echo: %llu passes, %llu recvs (%llu bytes), %llu sends (%llu sendmsg, "
      "%llu short), %llu ENOBUFS\n",
      static_cast<unsigned long long>(st.passes), static_cast<unsigned long long>(st.recvs),
      static_cast<unsigned long long>(st.recv_bytes), static_cast<unsigned long long>(st.sends),
      static_cast<unsigned long long>(st.sendmsgs), static_cast<unsigned long long>(st.short_sends),
      static_cast<unsigned long long>(st.enobufs));
  // The ring's multishot accept holds the listening socket, and the kernel tears the ring down
  // after the process has gone: shut the listener now, so that the port is free at exit.
  shutdown(lfd, SHUT_RDWR);
  close(lfd);
  return 0;
}
