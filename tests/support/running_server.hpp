// A wsx::Server running on its own thread for a test: listens on 127.0.0.1 at a free port,
// stops gracefully and joins in the destructor.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "wsx/server.hpp"

namespace wsx::test {

class RunningServer {
 public:
  explicit RunningServer(Server& server) : server_(server) {
    EXPECT_FALSE(server_.listen("127.0.0.1", 0));
    thread_ = std::thread([this] {
      server_.run();
      returned_ = true;
    });
  }
  ~RunningServer() { stop(); }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return server_.port(); }
  bool returned() const { return returned_; }

 private:
  Server& server_;
  std::thread thread_;
  std::atomic<bool> returned_{false};
};

}  // namespace wsx::test
