// epoll_batch_echo: the shared harness's raw_echo (servers/raw_echo.cpp, epoll, edge-triggered)
// with one change: a loop pass first reads every ready socket, then sends what each of them
// read, instead of sending right after each read. It makes the same system calls as raw_echo
// and does its sends in the same order as uring_echo (all reads of a pass, then all sends), so
// scripts/uring-bench.sh can tell a gain from that order apart from a gain from io_uring's fewer
// system calls. Same behaviour otherwise: every byte echoed, TCP_NODELAY, reading stops while a
// connection has 4 MiB or more unsent.
// EPOLL_ECHO_BATCH=N:USEC waits as uring_echo's URING_ECHO_BATCH does: when a wait brings fewer
// than N ready sockets, it sleeps USEC microseconds and collects what became ready meanwhile, so
// that the effect of larger batches can be told apart from io_uring's fewer system calls.
// Usage: epoll_batch_echo PORT [BIND_ADDR]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

struct Conn {
  int fd = -1;
  std::string pending;  // bytes read but not yet written back
  size_t off = 0;
  bool queued = false;  // on this pass's send list
};

constexpr size_t kBuf = 256 * 1024;
constexpr size_t kMaxPending = 4 * 1024 * 1024;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PORT [BIND_ADDR]\n", argv[0]);
    return 2;
  }
  int port = std::atoi(argv[1]);
  const char* bind_addr = argc > 2 ? argv[2] : "127.0.0.1";
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

  std::vector<Conn> conns;  // indexed by fd
  std::vector<char> buf(kBuf);
  std::vector<epoll_event> evs(1024);
  std::vector<int> to_send;
  unsigned batch_n = 0, batch_us = 0;
  if (const char* b = std::getenv("EPOLL_ECHO_BATCH")) {
    if (std::sscanf(b, "%u:%u", &batch_n, &batch_us) != 2 || batch_n == 0 || batch_us == 0) {
      std::fprintf(stderr, "EPOLL_ECHO_BATCH wants N:USEC, both above 0\n");
      return 2;
    }
  }

  auto drop = [&](int fd) {
    close(fd);
    conns[size_t(fd)] = Conn{};
  };
  // Write pending bytes; returns false on a fatal error.
  auto flush = [&](Conn& c) -> bool {
    while (c.off < c.pending.size()) {
      ssize_t n = send(c.fd, c.pending.data() + c.off, c.pending.size() - c.off, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      c.off += size_t(n);
    }
    c.pending.clear();
    c.off = 0;
    return true;
  };

  while (!g_stop) {
    int n = epoll_wait(ep, evs.data(), int(evs.size()), 500);
    if (n > 0 && unsigned(n) < batch_n && size_t(n) < evs.size()) {
      timespec pause{0, long(batch_us) * 1000};
      nanosleep(&pause, nullptr);
      int more = epoll_wait(ep, evs.data() + n, int(evs.size()) - n, 0);
      if (more > 0) n += more;
    }
    to_send.clear();
    // Pass 1: accept and read.
    for (int i = 0; i < n; ++i) {
      int fd = evs[size_t(i)].data.fd;
      uint32_t ev = evs[size_t(i)].events;
      if (fd == lfd) {
        for (;;) {
          int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (size_t(cfd) >= conns.size()) conns.resize(size_t(cfd) * 2 + 64);
          conns[size_t(cfd)].fd = cfd;
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          cev.data.fd = cfd;
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
        }
        continue;
      }
      Conn& c = conns[size_t(fd)];
      if (c.fd < 0) continue;
      if (ev & EPOLLERR) {
        drop(fd);
        continue;
      }
      bool closed = false;
      while (c.pending.size() - c.off < kMaxPending) {
        ssize_t r = recv(fd, buf.data(), buf.size(), 0);
        if (r > 0) {
          c.pending.append(buf.data(), size_t(r));
          if (size_t(r) < buf.size() && !(ev & (EPOLLRDHUP | EPOLLHUP))) break;
          continue;
        }
        if (r == 0) {
          closed = true;
          break;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) closed = true;
        break;
      }
      if (closed) {
        drop(fd);
        continue;
      }
      // EPOLLOUT alone (the peer took output) also lands here: the flush below resumes it.
      if (!c.queued) {
        c.queued = true;
        to_send.push_back(fd);
      }
    }
    // Pass 2: send what pass 1 read (and what was left from before).
    for (int fd : to_send) {
      Conn& c = conns[size_t(fd)];
      if (c.fd < 0) continue;
      c.queued = false;
      if (!flush(c)) drop(fd);
    }
  }
  close(ep);
  close(lfd);
  return 0;
}
