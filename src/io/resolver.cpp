#include "wsx/io/resolver.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace wsx::io {
namespace {

ResolveResult lookup(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  ResolveResult result;
  const int status = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (status != 0) {
    result.error = ::gai_strerror(status);
    return result;
  }
  for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
    SocketAddress address = SocketAddress::from_native(entry->ai_addr, entry->ai_addrlen);
    if (address.empty()) continue;
    if (std::find(result.addresses.begin(), result.addresses.end(), address) ==
        result.addresses.end()) {
      result.addresses.push_back(address);
    }
  }
  ::freeaddrinfo(list);
  if (result.addresses.empty()) result.error = "no usable address";
  return result;
}

}  // namespace

bool is_localhost_name(std::string_view host) noexcept {
  if (host.ends_with('.')) host.remove_suffix(1);
  constexpr std::string_view name = "localhost";
  if (host.size() < name.size()) return false;
  const std::string_view tail = host.substr(host.size() - name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = tail[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != name[i]) return false;
  }
  return host.size() == name.size() || host[host.size() - name.size() - 1] == '.';
}

std::vector<SocketAddress> localhost_addresses(std::uint16_t port) {
  return {SocketAddress::ipv4_loopback(port), SocketAddress::ipv6_loopback(port)};
}

struct Resolver::Impl {
  struct Job {
    std::string host;
    std::uint16_t port;
    LoopHandle loop;
    std::shared_ptr<std::atomic<bool>> cancelled;
    Callback callback;
  };

  static void deliver(Job& job, ResolveResult result) {
    job.loop.post([cancelled = std::move(job.cancelled), callback = std::move(job.callback),
                   result = std::move(result)]() mutable {
      if (!cancelled->load()) callback(std::move(result));
    });
  }

  void work() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mutex);
        ready.wait(lock, [this] { return stopping || !jobs.empty(); });
        if (stopping) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      if (job.cancelled->load()) continue;
      deliver(job, lookup(job.host, job.port));
    }
  }

  ResolverOptions options;
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<Job> jobs;   // guarded by mutex
  bool stopping = false;  // guarded by mutex
  std::vector<std::thread> workers;
};

Resolver::Resolver(const ResolverOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  const std::size_t threads = std::max<std::size_t>(options.threads, 1);
  for (std::size_t i = 0; i < threads; ++i) impl_->workers.emplace_back([this] { impl_->work(); });
}

Resolver::~Resolver() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    impl_->jobs.clear();
  }
  impl_->ready.notify_all();
  for (std::thread& worker : impl_->workers) worker.join();
}

ResolveRequest Resolver::resolve(EventLoop& loop, std::string_view host, std::uint16_t port,
                                 Callback callback) {
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  Impl::Job job{std::string(host), port, loop.handle(), cancelled, std::move(callback)};
  if (auto literal = SocketAddress::parse(host, port)) {
    ResolveResult result;
    result.addresses.push_back(*literal);
    Impl::deliver(job, std::move(result));
    return ResolveRequest(cancelled);
  }
  if (is_localhost_name(host)) {
    ResolveResult result;
    result.addresses = localhost_addresses(port);
    Impl::deliver(job, std::move(result));
    return ResolveRequest(cancelled);
  }
  if (host.empty() || host.size() > 253 || host.find('\0') != std::string_view::npos) {
    ResolveResult result;
    result.error = "invalid host name";
    Impl::deliver(job, std::move(result));
    return ResolveRequest(cancelled);
  }
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->jobs.size() < impl_->options.max_queued) {
      impl_->jobs.push_back(std::move(job));
      impl_->ready.notify_one();
      return ResolveRequest(cancelled);
    }
  }
  ResolveResult result;
  result.error = "too many pending resolutions";
  Impl::deliver(job, std::move(result));
  return ResolveRequest(cancelled);
}

}  // namespace wsx::io
