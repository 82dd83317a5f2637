#include "wsx/io/listener.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace wsx::io {
namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

bool set_flag(int fd, int level, int option, bool enabled) {
  const int value = enabled ? 1 : 0;
  return ::setsockopt(fd, level, option, &value, sizeof value) == 0;
}

// The kernel holds a connection back until its first bytes arrive: the accept that follows finds
// them waiting, and the owner reads them at once rather than registering the socket and waiting
// for the loop to report it readable (issue 13, scenario d). A silent client costs the kernel a
// request socket meanwhile, not a descriptor and a session of ours. Without the option (not
// Linux) or when refused, the listener accepts as soon as the TCP handshake is done.
bool set_defer_accept(int fd, std::chrono::seconds period) {
#ifdef TCP_DEFER_ACCEPT
  if (period.count() <= 0) return false;
  const int seconds = static_cast<int>(std::min<std::chrono::seconds::rep>(period.count(), 3600));
  return ::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds) == 0;
#else
  static_cast<void>(fd);
  static_cast<void>(period);
  return false;
#endif
}

int open_reserve() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

}  // namespace

Listener::Listener(EventLoop& loop, AcceptCallback on_accept)
    : loop_(loop), on_accept_(std::move(on_accept)) {}

Listener::~Listener() {
  close();
}

std::error_code Listener::listen(const SocketAddress& address, const ListenOptions& options) {
  close();
  options_ = options;
  const int domain = address.family() == AddressFamily::ipv6 ? AF_INET6 : AF_INET;
  if (address.empty()) return std::make_error_code(std::errc::invalid_argument);
  const int fd = ::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return last_error();
  bool ok = set_flag(fd, SOL_SOCKET, SO_REUSEADDR, options.reuse_address) &&
            set_flag(fd, SOL_SOCKET, SO_REUSEPORT, options.reuse_port);
  if (ok && domain == AF_INET6) ok = set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY, options.ipv6_only);
  ok = ok &&
       ::bind(fd, static_cast<const sockaddr*>(address.native()),
              static_cast<socklen_t>(address.native_size())) == 0 &&
       ::listen(fd, options.backlog) == 0;
  if (!ok) {
    const std::error_code error = last_error();
    ::close(fd);
    return error;
  }
  // Linux copies TCP_NODELAY from the listening socket to every socket accept() returns: set once
  // here, it saves a setsockopt per connection (one of the ~15 system calls a WebSocket
  // handshake and close cost the server).
  no_delay_inherited_ = options.no_delay && set_flag(fd, IPPROTO_TCP, TCP_NODELAY, true);
  defers_accept_ = set_defer_accept(fd, options.defer_accept);
  if (auto error = loop_.add(fd, Interest::read, *this)) {
    ::close(fd);
    return error;
  }
  fd_ = fd;
  reserve_fd_ = open_reserve();
  return {};
}

void Listener::close() noexcept {
  if (resume_timer_ != 0) loop_.cancel(resume_timer_);
  resume_timer_ = 0;
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
  }
  fd_ = -1;
  defers_accept_ = false;
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
  reserve_fd_ = -1;
}

SocketAddress Listener::local_address() const {
  if (fd_ < 0) return {};
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return {};
  return SocketAddress::from_native(&storage, length);
}

void Listener::on_readable() {
  accept_ready();
}

// An error on a listening socket is not fatal to it; accept() reports what matters.
void Listener::on_error() {
  accept_ready();
}

void Listener::accept_ready() {
  for (std::size_t i = 0; i < options_.max_accepts_per_wakeup && fd_ >= 0; ++i) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&storage), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      TcpSocket socket(fd);
      if (options_.no_delay && !no_delay_inherited_) socket.set_no_delay(true);
      on_accept_(std::move(socket), SocketAddress::from_native(&storage, length));
      continue;
    }
    switch (errno) {
      case EAGAIN:
        return;
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
      case EPERM:  // a firewall rule refused this one connection
        continue;
      case EMFILE:
      case ENFILE:
        if (shed_one()) continue;
        pause();
        return;
      default:  // ENOBUFS, ENOMEM, ...
        pause();
        return;
    }
  }
}

// Without this the connection stays in the backlog, the listener stays readable and the loop
// spins; closing it tells the client at once instead of letting it time out.
bool Listener::shed_one() {
  if (reserve_fd_ < 0) return false;
  ::close(reserve_fd_);
  reserve_fd_ = -1;
  const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    ++shed_;
  }
  reserve_fd_ = open_reserve();
  return fd >= 0 && reserve_fd_ >= 0;
}

void Listener::pause() {
  if (resume_timer_ != 0 || fd_ < 0) return;
  loop_.modify(fd_, Interest::none);
  resume_timer_ = loop_.run_after(options_.resource_pause, [this] {
    resume_timer_ = 0;
    if (reserve_fd_ < 0) reserve_fd_ = open_reserve();
    if (fd_ >= 0) loop_.modify(fd_, Interest::read);
  });
}

}  // namespace wsx::io
