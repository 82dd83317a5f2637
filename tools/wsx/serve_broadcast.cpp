#include "serve_broadcast.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>

#include "wsx/proto/utf8.hpp"

namespace wsx::tool {
namespace {

std::mutex stdout_mutex;  // server threads print clients' messages: one whole line at a time

void publish_line(Server& server, const std::string& topic, std::string_view line) {
  server.publish(topic, line, proto::is_valid_utf8(line) ? MessageKind::text : MessageKind::binary);
}

}  // namespace

Behavior broadcast_behavior(Behavior base, const std::string& topic) {
  std::function<void(WebSocket&)> open_counter = std::move(base.open);
  base.open = [open_counter, topic](WebSocket& ws) {
    if (open_counter) open_counter(ws);
    ws.subscribe(topic);
  };
  base.message = [](WebSocket&, Message message) {
    const std::lock_guard lock(stdout_mutex);
    std::fwrite(message.data.data(), 1, message.data.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  };
  return base;
}

StdinBroadcaster::StdinBroadcaster(Server& server, std::string topic)
    : server_(server), topic_(std::move(topic)) {
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    std::perror("wsx serve: --broadcast-stdin: pipe");
    return;
  }
  thread_ = std::thread([this] { run(); });
}

StdinBroadcaster::~StdinBroadcaster() {
  stop();
  for (int fd : stop_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void StdinBroadcaster::stop() {
  if (!thread_.joinable()) return;
  const char byte = 0;
  while (::write(stop_pipe_[1], &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void StdinBroadcaster::run() {
  std::string pending;  // the line being read
  char buffer[64 * 1024];
  while (true) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    std::string_view data(buffer, static_cast<std::size_t>(n));
    for (std::size_t newline; (newline = data.find('\n')) != std::string_view::npos;) {
      pending.append(data.substr(0, newline));
      publish_line(server_, topic_, pending);
      pending.clear();
      data.remove_prefix(newline + 1);
    }
    pending.append(data);
  }
  if (!pending.empty()) publish_line(server_, topic_, pending);  // a last line without "\n"
  std::fprintf(stderr, "wsx serve: stdin closed; still serving (SIGINT/SIGTERM to stop)\n");
}

}  // namespace wsx::tool
