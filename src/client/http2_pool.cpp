#include <algorithm>
#include <utility>

#include "http2_pool_impl.hpp"

namespace wsx {

Http2Pool::Impl::~Impl() {
  // close_now() fails the streams and waiters of each; their clients release them at once.
  std::vector<std::unique_ptr<client_detail::H2ClientConnection>> going = std::move(connections);
  connections.clear();
  for (const auto& connection : going) connection->close_now();
}

client_detail::H2ClientConnection* Http2Pool::Impl::find(const std::string& key) noexcept {
  for (const auto& connection : connections) {
    if (connection->key() == key && connection->accepts_streams()) return connection.get();
  }
  return nullptr;
}

client_detail::H2ClientConnection& Http2Pool::Impl::open(io::TcpSocket socket, io::TlsSession tls,
                                                         const std::string& key, std::string remote,
                                                         std::chrono::milliseconds timeout) {
  connections.push_back(std::make_unique<client_detail::H2ClientConnection>(
      loop, std::move(socket), std::move(tls), *this, key, std::move(remote), timeout));
  ++opened;
  return *connections.back();
}

void Http2Pool::Impl::connection_closed(client_detail::H2ClientConnection& connection) noexcept {
  const auto it = std::find_if(connections.begin(), connections.end(),
                               [&](const auto& c) { return c.get() == &connection; });
  if (it != connections.end()) connections.erase(it);
}

Http2Pool::Http2Pool(io::EventLoop& loop) : impl_(std::make_unique<Impl>(loop)) {}

Http2Pool::~Http2Pool() = default;

std::size_t Http2Pool::connections() const noexcept {
  return impl_->connections.size();
}

std::size_t Http2Pool::streams() const noexcept {
  std::size_t total = 0;
  for (const auto& connection : impl_->connections) total += connection->streams();
  return total;
}

std::size_t Http2Pool::connections_opened() const noexcept {
  return impl_->opened;
}

}  // namespace wsx
