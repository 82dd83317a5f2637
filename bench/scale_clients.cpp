// The client side of the scale benchmark (scripts/scale-bench.sh runs both sides): opens N
// idle WebSocket connections to bench/scale_server, measures the handshake rate while they
// connect and the server's RSS per connection once they are open, then has the server
// broadcast to all of them and measures the time until the last one has each message.
//
//   scale_clients --port P --server-pid PID [--connections 100000] [--sources 16]
//                 [--pending 512] [--broadcasts 5] [--timeout 300]
//
// Efficient on purpose, or the client would be what is measured: one thread, one epoll set,
// non-blocking sockets, no WebSocket library, a few bytes of state per connection, the same
// prepared request for every connection. Connections are spread over --sources source
// addresses 127.0.0.2, 127.0.0.3, ... (bound before connect, the port chosen at connect with
// IP_BIND_ADDRESS_NO_PORT), so the ~28,000 ephemeral ports of one address pair are no limit.
// At most --pending handshakes are under way at once (the listen backlog is finite).
//
// The server must send nothing but the broadcasts (scale_server never pings): every frame a
// connection receives after its 101 is one broadcast of a fixed size. Stops by itself: after
// the last broadcast, or at --timeout seconds with what it has (exit status 1).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Settings {
  std::string host = "127.0.0.1";
  int port = 0;
  int server_pid = 0;
  int connections = 100000;
  int sources = 16;
  int pending = 512;
  int broadcasts = 5;
  double timeout = 300;
};

bool parse(int argc, char** argv, Settings& s) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--host") {
      s.host = value;
    } else if (flag == "--port") {
      s.port = std::atoi(value);
    } else if (flag == "--server-pid") {
      s.server_pid = std::atoi(value);
    } else if (flag == "--connections") {
      s.connections = std::atoi(value);
    } else if (flag == "--sources") {
      s.sources = std::atoi(value);
    } else if (flag == "--pending") {
      s.pending = std::atoi(value);
    } else if (flag == "--broadcasts") {
      s.broadcasts = std::atoi(value);
    } else if (flag == "--timeout") {
      s.timeout = std::atof(value);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && s.port > 0 && s.connections > 0 && s.sources > 0 && s.pending > 0 &&
         s.sources < 250;
}

// VmRSS of a process in KiB, 0 if unknown.
long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// utime + stime of a process in seconds (after the ")" of the command name: fields 14 and 15).
double cpu_seconds(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  const char* p = text.c_str() + paren + 2;
  unsigned long long utime = 0, stime = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
      2) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

rlim_t raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

// A broadcast as sent by the server: an unmasked text frame with a 16-byte payload.
constexpr std::size_t payload_size = 16;
constexpr std::size_t frame_size = 2 + payload_size;

enum class State : std::uint8_t { unused, connecting, upgrading, open };

// Per connection, indexed by fd: the client keeps no buffers, so memory is the kernel's.
struct Connection {
  State state = State::unused;
  std::uint8_t head_match = 0;  // how much of "\r\n\r\n" ends what was read of the response
  bool status_checked = false;
  std::uint32_t received = 0;  // bytes after the 101's head
};

class Clients {
 public:
  explicit Clients(const Settings& settings) : s_(settings) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    request_ = "GET /scale HTTP/1.1\r\nHost: " + s_.host + ":" + std::to_string(s_.port) +
               "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n";
    server_.sin_family = AF_INET;
    server_.sin_port = htons(static_cast<std::uint16_t>(s_.port));
    ::inet_pton(AF_INET, s_.host.c_str(), &server_.sin_addr);
  }

  // Opens connections until `connections` are open, or nothing more can be opened, or the
  // deadline. Returns false at the deadline.
  bool connect_all(Clock::time_point deadline) {
    const Clock::time_point start = Clock::now();
    double next_report = 1;
    while (open_ < s_.connections && Clock::now() < deadline) {
      while (pending_ < s_.pending && started_ < s_.connections && !exhausted_) start_one();
      if (pending_ == 0 && (exhausted_ || started_ >= s_.connections)) break;
      poll(100);
      if (const double t = seconds_since(start); t >= next_report) {
        std::printf("  %5.1f s: %d open, %d pending, %d failed\n", t, open_, pending_, failed_);
        std::fflush(stdout);
        next_report += 1;
      }
    }
    return open_ >= s_.connections || pending_ == 0;
  }

  // Sends one publish request on the first open connection; returns when every open
  // connection has received `round` broadcasts (or the deadline): the time to the last one.
  bool broadcast(int round, Clock::time_point deadline, double& to_first, double& to_last) {
    char payload[payload_size + 1];
    std::snprintf(payload, sizeof payload, "publish%09u",
                  static_cast<unsigned>(round) % 1000000000u);
    std::uint8_t frame[6 + payload_size] = {0x81, 0x80 | payload_size, 1, 2, 3, 4};
    for (std::size_t i = 0; i < payload_size; ++i) frame[6 + i] = payload[i] ^ frame[2 + i % 4];
    reached_ = 0;
    round_ = static_cast<std::uint32_t>(round);
    first_ = Clock::time_point{};
    const Clock::time_point sent = Clock::now();
    if (::send(control_, frame, sizeof frame, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof frame)) {
      std::printf("cannot send the publish request: %s\n", std::strerror(errno));
      return false;
    }
    while (reached_ < open_ && Clock::now() < deadline) poll(100);
    to_first = std::chrono::duration<double>(first_ - sent).count();
    to_last = seconds_since(sent);
    return reached_ >= open_;
  }

  int open() const { return open_; }
  int failed() const { return failed_; }
  const std::map<std::string, int>& failures() const { return failures_; }

 private:
  void start_one() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        exhausted_ = true;  // this process's descriptor limit: the count is what fits
        fail(std::string("socket: ") + std::strerror(errno));
      } else {
        fail(std::string("socket: ") + std::strerror(errno));
      }
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl(0x7f000002u + static_cast<std::uint32_t>(started_ % s_.sources));
    ++started_;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
        (::connect(fd, reinterpret_cast<sockaddr*>(&server_), sizeof server_) != 0 &&
         errno != EINPROGRESS)) {
      fail(std::string("connect: ") + std::strerror(errno));
      ::close(fd);
      return;
    }
    if (static_cast<std::size_t>(fd) >= connections_.size()) connections_.resize(fd + 1024);
    connections_[fd] = Connection{State::connecting};
    epoll_event event{EPOLLOUT, {.fd = fd}};
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
    ++pending_;
  }

  void fail(std::string reason) {
    ++failed_;
    ++failures_[std::move(reason)];
  }

  void drop(int fd, std::string reason) {
    Connection& c = connections_[fd];
    if (c.state == State::open) {
      --open_;
    } else {
      --pending_;
    }
    c = Connection{};
    ::close(fd);
    fail(std::move(reason));
  }

  void poll(int timeout_ms) {
    epoll_event events[512];
    const int count = ::epoll_wait(epoll_, events, 512, timeout_ms);
    for (int i = 0; i < count; ++i) handle(events[i].data.fd, events[i].events);
  }

  void handle(int fd, std::uint32_t ready) {
    Connection& c = connections_[fd];
    if (c.state == State::connecting) {
      int error = 0;
      socklen_t length = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) return drop(fd, std::string("connect: ") + std::strerror(error));
      if (::send(fd, request_.data(), request_.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request_.size())) {
        return drop(fd, "request not sent whole");
      }
      c.state = State::upgrading;
      epoll_event event{EPOLLIN, {.fd = fd}};
      ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &event);
      return;
    }
    if ((ready & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) return;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      return drop(fd, n == 0 ? (c.state == State::open ? "closed by the server after 101"
                                                       : "closed by the server before 101")
                             : std::string("recv: ") + std::strerror(errno));
    }
    std::size_t at = 0;
    if (c.state == State::upgrading) {
      if (!c.status_checked) {
        if (n < 12 || std::memcmp(buffer, "HTTP/1.1 101", 12) != 0) {
          return drop(fd, "answer: " + std::string(buffer, std::min<std::size_t>(n, 12)));
        }
        c.status_checked = true;
      }
      static constexpr char end[] = "\r\n\r\n";
      while (at < static_cast<std::size_t>(n) && c.head_match < 4) {
        c.head_match = buffer[at] == end[c.head_match] ? c.head_match + 1 : buffer[at] == '\r';
        ++at;
      }
      if (c.head_match < 4) return;
      c.state = State::open;
      --pending_;
      if (open_++ == 0) control_ = fd;
    }
    // Broadcast frames: count whole frames; each must start like one of ours.
    for (; at < static_cast<std::size_t>(n); ++at, ++c.received) {
      if (c.received % frame_size == 0 && static_cast<std::uint8_t>(buffer[at]) != 0x81) {
        return drop(fd, "unexpected frame from the server");
      }
      if (c.received % frame_size == frame_size - 1 && (c.received + 1) / frame_size == round_) {
        if (reached_++ == 0) first_ = Clock::now();
      }
    }
  }

  const Settings& s_;
  int epoll_ = -1;
  std::string request_;
  sockaddr_in server_{};
  std::vector<Connection> connections_;
  int started_ = 0, pending_ = 0, open_ = 0, failed_ = 0;
  bool exhausted_ = false;
  int control_ = -1;
  std::uint32_t round_ = 0;
  int reached_ = 0;
  Clock::time_point first_;
  std::map<std::string, int> failures_;
};

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  if (!parse(argc, argv, s)) {
    std::fprintf(stderr,
                 "usage: %s --port P [--server-pid PID] [--host 127.0.0.1] [--connections N] "
                 "[--sources 1-249] [--pending N] [--broadcasts N] [--timeout SECONDS]\n",
                 argv[0]);
    return 2;
  }
  const rlim_t descriptors = raise_descriptor_limit();
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<long>(s.timeout * 1000));
  std::printf("client: nofile=%llu, %d connections over %d source addresses, %d pending at most\n",
              static_cast<unsigned long long>(descriptors), s.connections, s.sources, s.pending);

  const long rss_before = s.server_pid != 0 ? rss_kib(s.server_pid) : 0;
  const double server_cpu_before = s.server_pid != 0 ? cpu_seconds(s.server_pid) : 0;
  const double client_cpu_before = own_cpu_seconds();
  Clients clients(s);
  const Clock::time_point start = Clock::now();
  const bool in_time = clients.connect_all(deadline);
  const double connect_seconds = seconds_since(start);
  const double server_cpu = s.server_pid != 0 ? cpu_seconds(s.server_pid) - server_cpu_before : 0;
  const double client_cpu = own_cpu_seconds() - client_cpu_before;
  const int open = clients.open();
  std::printf("connected: %d open, %d failed in %.2f s%s\n", open, clients.failed(),
              connect_seconds, in_time ? "" : " (deadline)");
  for (const auto& [reason, count] : clients.failures()) {
    std::printf("  failed %d: %s\n", count, reason.c_str());
  }
  std::printf(
      "handshakes: %.0f/s wall, server CPU %.2f s (%.0f handshakes per server CPU-second),"
      " client CPU %.2f s\n",
      open / connect_seconds, server_cpu, server_cpu > 0 ? open / server_cpu : 0.0, client_cpu);
  if (s.server_pid != 0) {
    ::usleep(1'000'000);  // let the last connections' first allocations settle
    const long rss_after = rss_kib(s.server_pid);
    std::printf("server RSS: %ld KiB before, %ld KiB with %d open: %.0f bytes per connection\n",
                rss_before, rss_after, open,
                open > 0 ? static_cast<double>(rss_after - rss_before) * 1024.0 / open : 0.0);
  }
  std::fflush(stdout);
  if (open == 0) return 1;

  std::vector<double> to_first, to_last;
  bool all_delivered = true;
  for (int round = 1; round <= s.broadcasts; ++round) {
    double first = 0, last = 0;
    const double cpu = s.server_pid != 0 ? cpu_seconds(s.server_pid) : 0;
    const double own = own_cpu_seconds();
    const bool delivered = clients.broadcast(round, deadline, first, last);
    const double used = s.server_pid != 0 ? cpu_seconds(s.server_pid) - cpu : 0;
    const double own_used = own_cpu_seconds() - own;
    std::printf(
        "broadcast %d to %d: first after %.2f ms, last after %.2f ms%s, server CPU %.2f s, client "
        "CPU %.2f s\n",
        round, clients.open(), first * 1e3, last * 1e3, delivered ? "" : " (NOT ALL)", used,
        own_used);
    std::fflush(stdout);
    all_delivered = all_delivered && delivered;
    if (!delivered) break;
    to_first.push_back(first);
    to_last.push_back(last);
  }
  std::printf("broadcast median of %zu: first after %.2f ms, last after %.2f ms (%d connections)\n",
              to_last.size(), median(to_first) * 1e3, median(to_last) * 1e3, clients.open());
  return all_delivered && in_time ? 0 : 1;
}
