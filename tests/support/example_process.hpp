// Runs an example server binary (examples/) as a child process and learns its port from the
// line it prints once listening ("NAME listening on 127.0.0.1:PORT").
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace wsx::test {

class ExampleProcess {
 public:
  ExampleProcess(std::string path, std::vector<std::string> args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      argv.push_back(path.data());
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(path.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    // "NAME listening on 127.0.0.1:PORT\n"
    std::string line;
    pollfd waiting{out[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos && ::poll(&waiting, 1, 5000) > 0) {
      char buffer[256];
      const ssize_t got = ::read(out[0], buffer, sizeof buffer);
      if (got <= 0) break;
      line.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(out[0]);
    const std::size_t colon = line.rfind(':');
    if (colon != std::string::npos)
      port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
  }
  ~ExampleProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::uint16_t port() const { return port_; }
  // SIGTERM, then the exit status (-1 if it did not exit within `timeout`).
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  bool reaped_ = false;
};

}  // namespace wsx::test
