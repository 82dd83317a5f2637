// A private redis-server for a test: a free loopback port, a temporary directory, no
// persistence; killed and removed in the destructor. kill() then start() keep the port, to take
// Redis away from running servers and bring it back; pause()/resume() (SIGSTOP/SIGCONT) make it
// a Redis that no longer answers. A missing redis-server fails the test with what to install.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
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

class RedisProcess {
 public:
  explicit RedisProcess(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    binary_ = find_redis_server();
    if (binary_.empty()) {
      ADD_FAILURE() << "redis-server not found: install the Debian package redis-server "
                       "(bash scripts/install-deps.sh)";
      return;
    }
    char pattern[] = "/tmp/wsx-redis-XXXXXX";
    directory_ = ::mkdtemp(pattern);
    port_ = free_loopback_port();
    start();
  }
  ~RedisProcess() {
    kill();
    if (!directory_.empty()) std::filesystem::remove_all(directory_);
  }
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url(const std::string& credentials = "") const {
    return "redis://" + credentials + "127.0.0.1:" + std::to_string(port_) + "/";
  }

  void start() {
    std::vector<std::string> args = {
        binary_,  "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir",    directory_,
        "--save", "",       "--appendonly",        "no",     "--logfile", "/dev/null"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // Ready once it accepts connections and answers (+PONG, or -NOAUTH with a password).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (!command("PING").empty()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "redis-server did not answer on port " << port_;
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

  // One inline command (words separated by spaces) on a fresh connection; the raw reply, empty
  // when there was none. `password`: AUTH first. Reads until a line that starts with `last`
  // (the whole reply of the short commands the tests send) or 2 s of silence.
  std::string command(const std::string& line, const std::string& password = "",
                      const std::string& last = "") const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port_));
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
  std::string binary_;
  std::string directory_;
  std::vector<std::string> extra_;
  int port_ = 0;
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
