// A private redis-server for a test: free loopback ports, a temporary directory, no
// persistence; killed and removed in the destructor. kill() then start() keep the port, to take
// Redis away from running servers and bring it back; pause()/resume() (SIGSTOP/SIGCONT) make it
// a Redis that no longer answers. A missing redis-server fails the test with what to install.
//
// Start-up is race-free. Redis cannot take a port from the kernel itself (--port 0 means no
// TCP at all), so a port is picked free and then handed to Redis: another process can take it
// in between. So that a foreign listener on that port is never taken for ours, the fixture
// talks to its Redis over a unix socket in its private directory; Redis creates that socket
// only after it has bound every TCP port (it exits when a bind fails), so an answer there
// also proves the TCP ports are ours. When Redis exits saying a port is already in use, the
// fixture picks new ports and starts it again; a restart (start() after kill()) must keep its
// port, so it retries that port until it is free again.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace wsx::test {

inline std::string find_redis_server() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
    const std::string path = std::string(dir) + "/redis-server";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

// A loopback port that was free a moment ago (another process may take it meanwhile).
inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

struct RedisProcessOptions {
  std::vector<std::string> extra;  // more redis-server arguments
  // Arguments for a TLS port besides the plaintext one (--tls-cert-file ...); when not empty,
  // Redis also listens for TLS on tls_port(), picked like the plaintext port.
  std::vector<std::string> tls;
  // How ports are picked; a test of the retry path hands out a taken one first.
  std::function<int()> pick_port = free_loopback_port;
  // Called each time Redis exits because a port was taken (the retry path's test frees it).
  std::function<void()> on_port_taken;
};

class RedisProcess {
 public:
  explicit RedisProcess(std::vector<std::string> extra = {})
      : RedisProcess(RedisProcessOptions{.extra = std::move(extra)}) {}
  explicit RedisProcess(RedisProcessOptions options) : options_(std::move(options)) {
    binary_ = find_redis_server();
    if (binary_.empty()) {
      ADD_FAILURE() << "redis-server not found: install the Debian package redis-server "
                       "(bash scripts/install-deps.sh)";
      return;
    }
    char pattern[] = "/tmp/wsx-redis-XXXXXX";
    directory_ = ::mkdtemp(pattern);
    // New ports for each try: a port taken by someone else stays taken for an unknown time.
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
      port_ = options_.pick_port();
      if (!options_.tls.empty()) tls_port_ = options_.pick_port();
      if (launch() != Launch::port_taken) return;
    }
    ADD_FAILURE() << "redis-server found its port taken " << max_attempts << " times";
  }
  ~RedisProcess() {
    kill();
    if (!directory_.empty()) std::filesystem::remove_all(directory_);
  }
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  // How many times redis-server was started (more than one when a port was taken).
  int launches() const { return launches_; }
  std::string url(const std::string& credentials = "") const {
    return "redis://" + credentials + "127.0.0.1:" + std::to_string(port_) + "/";
  }

  // Starts Redis again on the same ports (after kill()). Servers that knew it will come back
  // to that port, so a port taken meanwhile is waited for (a client's ephemeral port is freed
  // soon; a foreign listener that keeps it fails the test after 20 s).
  void start() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (launch() == Launch::port_taken) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "port " << port_ << " stayed taken: redis-server cannot restart on it";
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void kill() {
    if (pid_ <= 0) return;
    resume();
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  // One inline command (words separated by spaces) on a fresh connection over the unix socket
  // (always this Redis); the raw reply, empty when there was none. `password`: AUTH first.
  // Reads until a line that starts with `last` (the whole reply of the short commands the tests
  // send) or 2 s of silence.
  std::string command(const std::string& line, const std::string& password = "",
                      const std::string& last = "") const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path().c_str(), sizeof address.sun_path - 1);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      const std::string request =
          (password.empty() ? std::string() : "AUTH " + password + "\r\n") + line + "\r\n";
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      pollfd waiting{fd, POLLIN, 0};
      char buffer[4096];
      while (::poll(&waiting, 1, 2000) == 1) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        reply.append(buffer, static_cast<std::size_t>(n));
        if (reply.size() < 2 || reply.substr(reply.size() - 2) != "\r\n") continue;
        const std::size_t start = reply.rfind("\r\n", reply.size() - 3);
        const std::string final_line = reply.substr(start == std::string::npos ? 0 : start + 2);
        if (last.empty() || final_line.starts_with(last)) break;
      }
    }
    ::close(fd);
    return reply;
  }

  // How many connections are subscribed to `channel` (PUBSUB NUMSUB), -1 if unknown.
  int subscribers(const std::string& channel, const std::string& password = "") const {
    const std::string reply = command("PUBSUB NUMSUB " + channel, password, ":");
    const std::size_t colon = reply.rfind(':');
    if (colon == std::string::npos) return -1;
    return std::atoi(reply.c_str() + colon + 1);
  }

 private:
  static constexpr int max_attempts = 20;
  enum class Launch { ready, port_taken, failed };

  std::string socket_path() const { return directory_ + "/redis.sock"; }
  std::string log_path() const { return directory_ + "/redis.log"; }

  // Starts redis-server on port_ (and tls_port_) and waits until it answers on its unix
  // socket, or exits.
  Launch launch() {
    std::filesystem::remove(log_path());
    std::vector<std::string> args = {binary_,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     directory_,
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--logfile",
                                     log_path(),
                                     "--unixsocket",
                                     socket_path(),
                                     "--unixsocketperm",
                                     "700"};
    if (!options_.tls.empty()) {
      args.insert(args.end(), {"--tls-port", std::to_string(tls_port_)});
      args.insert(args.end(), options_.tls.begin(), options_.tls.end());
    }
    args.insert(args.end(), options_.extra.begin(), options_.extra.end());
    ++launches_;
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // Ready once it answers (+PONG, or -NOAUTH with a password). Generous: a loaded machine.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        const std::string log = read_log();
        if (log.find("already in use") != std::string::npos) {
          if (options_.on_port_taken) options_.on_port_taken();
          return Launch::port_taken;
        }
        ADD_FAILURE() << "redis-server exited (status " << status << "):\n" << log;
        return Launch::failed;
      }
      if (!command("PING").empty()) return Launch::ready;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "redis-server did not answer within 30 s:\n" << read_log();
    kill();
    return Launch::failed;
  }

  std::string read_log() const {
    std::ifstream file(log_path());
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  RedisProcessOptions options_;
  std::string binary_;
  std::string directory_;
  int port_ = 0;
  int tls_port_ = 0;
  int launches_ = 0;
  pid_t pid_ = -1;
};

// Polls `condition` every 20 ms until it holds or `limit` passes.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace wsx::test
