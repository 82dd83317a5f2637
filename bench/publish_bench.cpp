// Publishing one 2 KiB JSON-like message to 100 permessage-deflate subscribers on one loop:
// subscribers whose compressor resets after every message (server_no_context_takeover) share
// one compressed frame; with context takeover each one compresses the message itself.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "session/session.hpp"
#include "session/tcp_carrier.hpp"
#include "session/topics.hpp"

namespace {

using namespace wsx;

class NullOwner final : public session::SessionOwner {
 public:
  void release(session::Session&) noexcept override {}
};

void publish_to_deflate_subscribers(benchmark::State& state) {
  const bool stateless = state.range(0) != 0;
  constexpr int subscribers = 100;
  io::EventLoop loop;
  session::SessionConfig config;
  config.options.max_backpressure = 1u << 30;  // the peers are drained outside the timing
  session::TopicRegistry registry;
  NullOwner owner;
  owner.topic_registry = &registry;
  std::vector<std::unique_ptr<session::Session>> sessions;
  std::vector<int> peers;
  proto::DeflateParams params;
  params.server_no_context_takeover = stateless;
  for (int i = 0; i < subscribers; ++i) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      state.SkipWithError("socketpair failed");
      return;
    }
    const int size = 4 << 20;
    ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    sessions.push_back(std::make_unique<session::TcpSession>(config, owner, nullptr, loop,
                                                             io::TcpSocket(fds[0]), std::nullopt));
    sessions.back()->open({.role = proto::Role::server, .deflate = params});
    registry.subscribe(*sessions.back(), "t");
    peers.push_back(fds[1]);
  }
  std::string text;
  for (int i = 0; text.size() < 2048; ++i) {
    text += "{\"id\":" + std::to_string(i) + ",\"user\":\"u" + std::to_string(i % 7) + "\"}";
  }
  const std::span<const std::uint8_t> payload(reinterpret_cast<const std::uint8_t*>(text.data()),
                                              text.size());
  std::vector<std::uint8_t> sink(1 << 16);
  for (auto _ : state) {
    const auto frame = session::make_shared_frame(MessageKind::text, payload);
    benchmark::DoNotOptimize(registry.deliver("t", frame, nullptr));
    state.PauseTiming();
    loop.stop();
    loop.run();  // one iteration: the frames leave
    for (const int peer : peers) {
      while (::read(peer, sink.data(), sink.size()) > 0) {
      }
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * subscribers);
  sessions.clear();
  for (const int peer : peers) ::close(peer);
}
BENCHMARK(publish_to_deflate_subscribers)->ArgName("shared")->Arg(1)->Arg(0);

}  // namespace
