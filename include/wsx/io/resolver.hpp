// Host name resolution that never blocks an event loop: getaddrinfo runs on worker threads and
// the answer is posted back to the loop that asked. IP literals are answered without a thread,
// and so are localhost names ("localhost", "x.localhost", with or without the final dot, any
// case): RFC 6761 §6.3 says they always mean loopback and are not to be looked up, so they work
// where /etc/hosts is missing or maps "localhost" to one family only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wsx/export.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"

namespace wsx::io {

struct WSX_API ResolveResult {
  std::vector<SocketAddress> addresses;  // in getaddrinfo's order (RFC 6724), no duplicates
  std::string error;                     // gai_strerror text when resolution failed
  bool ok() const noexcept { return error.empty() && !addresses.empty(); }
};

// Cancels delivery of one resolution. Must be used on the requesting loop's thread, where the
// result is delivered, so after cancel() the callback is guaranteed not to run.
class WSX_API ResolveRequest {
 public:
  ResolveRequest() = default;
  void cancel() noexcept {
    if (cancelled_) cancelled_->store(true);
  }

 private:
  friend class Resolver;
  explicit ResolveRequest(std::shared_ptr<std::atomic<bool>> cancelled)
      : cancelled_(std::move(cancelled)) {}
  std::shared_ptr<std::atomic<bool>> cancelled_;
};

struct WSX_API ResolverOptions {
  std::size_t threads = 2;        // concurrent getaddrinfo calls
  std::size_t max_queued = 4096;  // beyond this, requests fail at once with an error
};

// "localhost" and names under ".localhost" (RFC 6761 §6.3), case-insensitive, final dot allowed.
WSX_API bool is_localhost_name(std::string_view host) noexcept;
// What a localhost name resolves to: 127.0.0.1 then ::1. IPv4 first because it exists on every
// host (::1 can be disabled) and "localhost" means 127.0.0.1 to wsx's own Server::listen; a
// client races both (Happy Eyeballs), so a server on ::1 only is still reached.
WSX_API std::vector<SocketAddress> localhost_addresses(std::uint16_t port);

class WSX_API Resolver {
 public:
  using Callback = std::function<void(ResolveResult result)>;

  explicit Resolver(const ResolverOptions& options = {});
  // Joins the workers; queued requests are dropped, a running getaddrinfo is waited for.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Any thread. The callback runs on `loop`'s thread (dropped if the loop is gone by then).
  // `host` may be a name, an IP literal or a bracketed IPv6 literal.
  ResolveRequest resolve(EventLoop& loop, std::string_view host, std::uint16_t port,
                         Callback callback);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsx::io
