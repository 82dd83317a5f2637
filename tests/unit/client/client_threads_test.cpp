// Clients on their own loops, several at once, for ThreadSanitizer (tests/tsan) as much as for
// their results: run_client() on three threads at the same time (plain and TLS, by address and
// by name through the process-wide resolver), other threads sending through the connections'
// handles, the servers on a loop of their own. Bounded in rounds and by a watchdog.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loop_watchdog.hpp"
#include "test_certs.hpp"
#include "test_ws_server.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;

// The echo servers (plain and TLS) on one loop, on their own thread.
class ServersThread {
 public:
  ServersThread() {
    thread_ = std::thread([this] {
      test::TestServer plain(loop_, {});
      test::TestServerOptions tls_options;
      tls_options.tls.emplace();
      tls_options.tls->certificate_chain_file = test::test_pki().server_chain;
      tls_options.tls->private_key_file = test::test_pki().server_key;
      test::TestServer tls(loop_, tls_options);
      {
        std::lock_guard lock(mutex_);
        plain_port_ = plain.port();
        tls_port_ = tls.port();
        ready_.notify_all();
      }
      test::arm_watchdog(loop_, 60s);
      loop_.run();
    });
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return plain_port_ != 0; });
  }
  ~ServersThread() {
    loop_.stop();
    thread_.join();
  }
  ServersThread(const ServersThread&) = delete;
  ServersThread& operator=(const ServersThread&) = delete;

  std::uint16_t plain_port() const { return plain_port_; }
  std::uint16_t tls_port() const { return tls_port_; }

 private:
  io::EventLoop loop_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::uint16_t plain_port_ = 0;
  std::uint16_t tls_port_ = 0;
};

TEST(ClientThreads, ClientsOnTheirOwnLoopsWithHandlesUsedFromOtherThreads) {
  constexpr int rounds = 4;
  constexpr int messages = 20;
  // Generated once, before the threads use it.
  const std::string ca_file = test::test_pki().ca_certificate;
  ServersThread servers;
  const std::vector<std::string> urls = {
      "ws://127.0.0.1:" + std::to_string(servers.plain_port()) + "/",
      "ws://localhost:" + std::to_string(servers.plain_port()) + "/",
      "wss://localhost:" + std::to_string(servers.tls_port()) + "/",
  };
  std::vector<std::thread> threads;
  for (const std::string& url : urls) {
    threads.emplace_back([&, url] {
      for (int round = 0; round < rounds; ++round) {
        ClientOptions options;
        options.url = url;
        options.tls.ca_file = ca_file;
        options.tls.use_system_ca = false;
        const std::thread::id loop_thread = std::this_thread::get_id();
        std::thread sender;
        int echoes = 0;  // loop thread only
        std::atomic<int> ran_elsewhere{0};
        ClientHandlers handlers;
        handlers.open = [&](WebSocket& ws) {
          // Another thread sends through the handle; the echoes come back on this loop.
          sender = std::thread([&, handle = ws.handle()]() mutable {
            // Each send goes last in its turn: the echo of the last one, which ends the run
            // and the loop, cannot come back before this thread is done with the handle.
            for (int i = 0; i < messages; ++i) {
              EXPECT_TRUE(handle.post([&](WebSocket&) {
                if (std::this_thread::get_id() != loop_thread) ++ran_elsewhere;
              }));
              EXPECT_TRUE(handle.send("message " + std::to_string(i)));
            }
          });
        };
        handlers.message = [&](WebSocket& ws, Message message) {
          EXPECT_EQ(message.text(), "message " + std::to_string(echoes));
          if (++echoes == messages) ws.close(1000, "all echoed");
        };
        const ClientResult result = run_client(options, handlers);
        if (sender.joinable()) sender.join();
        ASSERT_TRUE(result.opened)
            << url << ": " << (result.error ? result.error->message : std::string());
        EXPECT_TRUE(result.clean) << url;
        EXPECT_EQ(result.close_code, 1000) << url;
        EXPECT_EQ(echoes, messages) << url;
        EXPECT_EQ(ran_elsewhere.load(), 0) << url;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace
}  // namespace wsx
