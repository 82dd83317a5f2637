#include "wsx/io/connector.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace wsx::io {

Connector::~Connector() {
  cancel();
}

void Connector::cancel() noexcept {
  if (timer_ != 0) loop_.cancel(timer_);
  timer_ = 0;
  if (socket_.valid()) loop_.remove(socket_.fd());
  socket_.close();
  callback_ = nullptr;
}

void Connector::connect(const SocketAddress& address, Callback callback,
                        const ConnectOptions& options) {
  cancel();
  callback_ = std::move(callback);
  no_delay_ = options.no_delay;
  std::error_code error;
  const int domain = address.family() == AddressFamily::ipv6 ? AF_INET6 : AF_INET;
  if (address.empty()) {
    error = std::make_error_code(std::errc::invalid_argument);
  } else if (const int fd = ::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
             fd < 0) {
    error = {errno, std::system_category()};
  } else {
    socket_ = TcpSocket(fd);
    int result;
    do {
      result = ::connect(fd, static_cast<const sockaddr*>(address.native()),
                         static_cast<socklen_t>(address.native_size()));
    } while (result != 0 && errno == EINTR);
    if (result == 0 || errno == EINPROGRESS) {
      // Even an immediate success is reported through writability: the callback never runs
      // inside connect().
      error = loop_.add(fd, Interest::write, *this);
    } else {
      error = {errno, std::system_category()};
    }
  }
  if (error) {
    if (socket_.valid()) loop_.remove(socket_.fd());
    socket_.close();
    timer_ = loop_.run_after(Clock::duration::zero(), [this, error] {
      timer_ = 0;
      finish(error);
    });
    return;
  }
  if (options.timeout > Clock::duration::zero()) {
    timer_ = loop_.run_after(options.timeout, [this] {
      timer_ = 0;
      finish(std::make_error_code(std::errc::timed_out));
    });
  }
}

void Connector::on_writable() {
  const int error = socket_.pending_error();
  finish(error == 0 ? std::error_code{} : std::error_code{error, std::system_category()});
}

void Connector::on_error() {
  int error = socket_.pending_error();
  if (error == 0) error = ECONNREFUSED;  // EPOLLERR without a recorded reason
  finish({error, std::system_category()});
}

void Connector::finish(std::error_code error) {
  if (timer_ != 0) loop_.cancel(timer_);
  timer_ = 0;
  if (socket_.valid()) loop_.remove(socket_.fd());
  TcpSocket socket = std::move(socket_);
  if (error) socket.close();
  if (!error && no_delay_) socket.set_no_delay(true);
  // Taken out first: the callback may start another attempt or destroy this Connector.
  Callback callback = std::move(callback_);
  callback_ = nullptr;
  if (callback) callback(std::move(socket), error);
}

}  // namespace wsx::io
