#include "redis/tls_relay.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>

#include "wsx/io/stream.hpp"

namespace wsx::redis {

// Both directions are bounded: past `high_water` bytes waiting one way, the side that feeds it
// is not read until the other side has taken some (Redis answering a flood of publishes faster
// than hiredis parses the replies, or the reverse).
struct TlsRelay::Impl final : io::IoHandler, io::StreamHandler {
  static constexpr std::size_t high_water = 1024 * 1024;

  Impl(io::EventLoop& event_loop, io::TcpSocket socket, io::TlsSession tls, Failure on_failure)
      : loop(event_loop), failure(std::move(on_failure)) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) return;
    relay_end = io::TcpSocket(pair[0]);
    if (loop.add(relay_end.fd(), io::Interest::read, *this)) {
      relay_end.close();
      ::close(pair[1]);
      return;
    }
    hiredis_fd = pair[1];
    stream = std::make_unique<io::Stream>(loop, std::move(socket), *this, std::move(tls));
    stream->request_flush();  // the ClientHello
  }

  ~Impl() {
    stream.reset();
    if (relay_end.valid()) {
      loop.remove(relay_end.fd());
      relay_end.close();
    }
  }

  // ---- hiredis's side (the relay's end of the pair)

  void on_readable() override {
    std::array<std::uint8_t, 16 * 1024> buffer;
    bool got = false;
    while (to_redis.size() < high_water) {
      const io::IoResult result = relay_end.read(buffer);
      if (result.status == io::IoStatus::ok) {
        to_redis.append(reinterpret_cast<const char*>(buffer.data()), result.bytes);
        got = true;
        continue;
      }
      // hiredis closed its end: its context is gone, and the owner destroys this relay next.
      if (result.status != io::IoStatus::would_block) hiredis_gone = true;
      break;
    }
    if (got && stream) stream->request_flush();
    update_interest();
  }

  void on_writable() override { flush_to_hiredis(); }
  void on_error() override { on_readable(); }

  void flush_to_hiredis() {
    while (!to_hiredis.empty() && !hiredis_gone) {
      const io::IoResult result = relay_end.write(io::ConstBuffer(
          reinterpret_cast<const std::uint8_t*>(to_hiredis.data()), to_hiredis.size()));
      if (result.status == io::IoStatus::ok) {
        to_hiredis.erase(0, result.bytes);
        continue;
      }
      if (result.status != io::IoStatus::would_block) hiredis_gone = true;
      break;
    }
    if (hiredis_gone) to_hiredis.clear();
    update_interest();
  }

  void update_interest() {
    if (!relay_end.valid()) return;
    io::Interest interest = io::Interest::none;
    if (!hiredis_gone && to_redis.size() < high_water) interest = interest | io::Interest::read;
    if (!to_hiredis.empty()) interest = interest | io::Interest::write;
    loop.modify(relay_end.fd(), interest);
    if (!stream) return;
    if (to_hiredis.size() < high_water) {
      stream->resume_reading();
    } else {
      stream->pause_reading();
    }
  }

  // ---- Redis's side (the TLS stream)

  void on_stream_data(std::span<std::uint8_t> data) override {
    to_hiredis.append(reinterpret_cast<const char*>(data.data()), data.size());
    flush_to_hiredis();
  }

  std::size_t gather_output(std::span<io::ConstBuffer> out) override {
    if (to_redis.empty() || out.empty()) return 0;
    out[0] =
        io::ConstBuffer(reinterpret_cast<const std::uint8_t*>(to_redis.data()), to_redis.size());
    return 1;
  }

  void consume_output(std::size_t n) override {
    to_redis.erase(0, n);
    update_interest();
  }

  void on_stream_end() override { fail("connection closed by redis"); }
  void on_stream_error(std::string_view reason) override { fail(std::string(reason)); }

  void fail(const std::string& reason) {
    if (failed) return;
    failed = true;
    if (failure) failure(reason);
  }

  io::EventLoop& loop;
  Failure failure;
  io::TcpSocket relay_end;
  int hiredis_fd = -1;
  std::unique_ptr<io::Stream> stream;
  std::string to_redis;    // from hiredis, not yet taken by TLS
  std::string to_hiredis;  // decrypted, not yet taken by hiredis's socket
  bool hiredis_gone = false;
  bool failed = false;
};

TlsRelay::TlsRelay(io::EventLoop& loop, io::TcpSocket socket, io::TlsSession tls, Failure failure)
    : impl_(std::make_unique<Impl>(loop, std::move(socket), std::move(tls), std::move(failure))) {}

TlsRelay::~TlsRelay() = default;

int TlsRelay::hiredis_end() const noexcept {
  return impl_->hiredis_fd;
}
std::size_t TlsRelay::buffered_to_redis() const noexcept {
  return impl_->to_redis.size();
}
std::size_t TlsRelay::buffered_to_hiredis() const noexcept {
  return impl_->to_hiredis.size();
}

}  // namespace wsx::redis
