// The server's cross-thread paths under load, for ThreadSanitizer (tests/tsan) as much as for
// their results: publish from many threads while subscribers come and go, handles posting to
// connections that are closing, stop() from other threads while clients connect, async upgrades
// answered from other threads while clients leave. Bounded in rounds; every wait has a deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "test_certs.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RecordedEvent;
using test::RunningServer;

// A count bumped on server threads that the test thread can wait for.
class Counter {
 public:
  void add() {
    std::lock_guard lock(mutex_);
    ++count_;
    changed_.notify_all();
  }
  int value() {
    std::lock_guard lock(mutex_);
    return count_;
  }
  bool wait_for(int at_least, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return count_ >= at_least; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_ = 0;
};

bool wait_for_no_connections(const Server& server, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (server.connections() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  return server.connections() == 0;
}

// Client side of a clean close: send ours, read (and drop) what is still queued for us until
// the server's close frame, then its FIN.
bool close_cleanly(RawWsClient& client) {
  if (!client.close(1000)) return false;
  for (;;) {
    std::optional<RecordedEvent> event = client.next_event();
    if (!event) return false;
    if (event->kind == proto::EventKind::close) return client.wait_eof();
  }
}

TEST(ServerThreads, PublishersOnManyThreadsWhileSubscribersComeAndGo) {
  constexpr int publishers = 3;
  constexpr int per_publisher = 200;
  constexpr int churners = 3;
  constexpr int rounds = 8;  // even rounds close cleanly and publish, odd ones just drop
  Counter opened;
  Counter closed;
  Server server({.threads = 2});
  server.route("/room",
               {// Compressed frames shared per loop, next to the plain shared frames.
                .deflate = proto::DeflateServerOptions{.server_no_context_takeover = true},
                .open =
                    [&](WebSocket& ws) {
                      EXPECT_TRUE(ws.subscribe("room"));
                      opened.add();
                    },
                .message =
                    [](WebSocket& ws, Message msg) {
                      if (msg.text() == "unsubscribe") {
                        EXPECT_TRUE(ws.unsubscribe("room"));
                      } else if (msg.text() == "subscribe") {
                        EXPECT_TRUE(ws.subscribe("room"));
                      } else {
                        ws.publish("room", msg.data, msg.kind);
                      }
                    },
                .close = [&](WebSocket&, const CloseInfo&) { closed.add(); }});
  RunningServer running(server);
  RawWsClient witness(running.port());
  ASSERT_TRUE(witness.handshake({.deflate = proto::DeflateClientOptions{}}, "/room"));
  ASSERT_TRUE(witness.handshake_result().deflate);
  ASSERT_TRUE(opened.wait_for(1));

  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_publisher; ++i) {
        EXPECT_TRUE(server.publish("room", "p" + std::to_string(p) + ":" + std::to_string(i)));
      }
    });
  }
  for (int c = 0; c < churners; ++c) {
    threads.emplace_back([&, c] {
      for (int round = 0; round < rounds; ++round) {
        RawWsClient client(running.port());
        proto::ClientRequestOptions offer;
        if (c % 2 == 1) offer.deflate = proto::DeflateClientOptions{};
        ASSERT_TRUE(client.handshake(offer, "/room"));
        ASSERT_TRUE(client.send("unsubscribe"));
        ASSERT_TRUE(client.send("subscribe"));
        if (round % 2 == 0) {
          ASSERT_TRUE(client.send("c" + std::to_string(c) + ":" + std::to_string(round)));
          ASSERT_TRUE(close_cleanly(client));
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  // The witness, subscribed throughout, gets every message once, each publisher's in order.
  constexpr int expected = publishers * per_publisher + churners * (rounds / 2);
  std::vector<int> next(publishers, 0);
  int from_churners = 0;
  for (int got = 0; got < expected; ++got) {
    std::optional<RecordedEvent> message = witness.next_message();
    ASSERT_TRUE(message) << "after " << got << " of " << expected;
    const std::string text = message->text();
    if (text[0] == 'c') {
      ++from_churners;
      continue;
    }
    const int p = text[1] - '0';
    ASSERT_TRUE(p >= 0 && p < publishers) << text;
    EXPECT_EQ(text, "p" + std::to_string(p) + ":" + std::to_string(next[p])) << "out of order";
    ++next[p];
  }
  EXPECT_EQ(from_churners, churners * (rounds / 2));
  EXPECT_FALSE(witness.next_message(100ms));
  ASSERT_TRUE(closed.wait_for(churners * rounds));
  EXPECT_EQ(opened.value(), churners * rounds + 1);
}

TEST(ServerThreads, HandlesPostToConnectionsWhileTheyClose) {
  constexpr int clients = 3;
  constexpr int rounds = 10;
  std::mutex mutex;
  std::vector<WebSocketHandle> handles;
  std::set<int> closed_ids;  // guarded by mutex
  std::atomic<int> next_id{0};
  std::atomic<int> ran{0};
  Counter closed;
  {
    Server server({.threads = 2});
    server.route("/", {.open =
                           [&](WebSocket& ws) {
                             ws.user_data() = next_id++;
                             std::lock_guard lock(mutex);
                             handles.push_back(ws.handle());
                           },
                       .message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); },
                       .close =
                           [&](WebSocket& ws, const CloseInfo&) {
                             {
                               std::lock_guard lock(mutex);
                               closed_ids.insert(*ws.data<int>());
                             }
                             closed.add();
                           }});
    RunningServer running(server);
    std::atomic<bool> clients_done{false};
    // Posting threads: work for every connection ever opened, live or gone.
    std::vector<std::thread> posters;
    for (int t = 0; t < 2; ++t) {
      posters.emplace_back([&, t] {
        for (unsigned pass = 0; !clients_done.load(); ++pass) {
          std::vector<WebSocketHandle> snapshot;
          {
            std::lock_guard lock(mutex);
            snapshot = handles;
          }
          for (std::size_t i = 0; i < snapshot.size(); ++i) {
            WebSocketHandle& handle = snapshot[i];
            EXPECT_TRUE(handle.send("from poster " + std::to_string(t)));
            EXPECT_TRUE(handle.post([&](WebSocket& ws) {
              ++ran;
              std::lock_guard lock(mutex);
              EXPECT_EQ(closed_ids.count(*ws.data<int>()), 0u) << "work ran after close";
            }));
            if ((pass + i) % 7 == 0) {
              EXPECT_TRUE(handle.close(4000, "by handle"));
            }
          }
          std::this_thread::sleep_for(1ms);  // pacing, so the connectors get CPU too
        }
      });
    }
    std::vector<std::thread> connectors;
    for (int c = 0; c < clients; ++c) {
      connectors.emplace_back([&, c] {
        for (int round = 0; round < rounds; ++round) {
          RawWsClient client(running.port());
          ASSERT_TRUE(client.handshake());
          // Refused when a close by handle came with the 101: then that is the next event.
          client.send("hello");
          // Whatever comes first: our echo, a poster's message or a close by handle.
          std::optional<RecordedEvent> event = client.next_event();
          ASSERT_TRUE(event);
          if ((c + round) % 2 == 0 && event->kind != proto::EventKind::close) {
            close_cleanly(client);  // may cross a close by handle: either way it ends
          }
        }
      });
    }
    for (std::thread& connector : connectors) connector.join();
    clients_done = true;
    for (std::thread& poster : posters) poster.join();
    ASSERT_TRUE(closed.wait_for(clients * rounds));
    EXPECT_GT(ran.load(), 0);
    EXPECT_TRUE(wait_for_no_connections(server));
  }
  // The server and its loops are gone: handles refuse work instead of queueing it forever.
  ASSERT_EQ(handles.size(), static_cast<std::size_t>(clients * rounds));
  for (WebSocketHandle& handle : handles) {
    EXPECT_FALSE(handle.post([](WebSocket&) { ADD_FAILURE() << "ran without a server"; }));
    EXPECT_FALSE(handle.send("nobody"));
  }
}

TEST(ServerThreads, StopFromOtherThreadsWhileClientsConnect) {
  constexpr int clients = 3;
  Counter opened;
  Counter closed;
  Server server({.threads = 2, .shutdown_timeout = 3s});
  server.route("/", {.open = [&](WebSocket&) { opened.add(); },
                     .message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); },
                     .close = [&](WebSocket&, const CloseInfo&) { closed.add(); }});
  ASSERT_FALSE(server.listen("127.0.0.1", 0));
  const std::uint16_t port = server.port();
  std::atomic<bool> returned{false};
  std::thread runner([&] {
    server.run();
    returned = true;
  });

  // Each client thread connects and echoes until the server refuses, then holds its last
  // connection: that one must get 1001 when the server stops.
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        RawWsClient client(port);
        if (!client.connected() || !client.handshake()) return;  // stopped: refused or dropped
        if (!client.send("echo")) return;
        std::optional<RecordedEvent> event = client.next_event();
        if (!event) return;
        if (event->kind == proto::EventKind::close) {
          EXPECT_EQ(event->close_code, 1001);
          client.flush();  // our close reply
          return;
        }
        EXPECT_EQ(event->text(), "echo");
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; !returned.load() && i < 10000; ++i) server.publish("nobody", "listens");
  });
  ASSERT_TRUE(opened.wait_for(6));
  std::thread stopper([&] { server.stop(); });
  server.stop();  // twice, from two threads: the second does nothing
  stopper.join();
  for (std::thread& thread : threads) thread.join();
  runner.join();
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(closed.value(), opened.value());
  EXPECT_EQ(server.connections(), 0u);
}

TEST(ServerThreads, PortIsReadFromAnyThreadWhileTheServerStops) {
  Server server({.threads = 2});
  server.route("/", {});
  ASSERT_FALSE(server.listen("127.0.0.1", 0));
  const std::uint16_t port = server.port();
  ASSERT_NE(port, 0);
  std::thread runner([&] { server.run(); });
  {
    RawWsClient client(port);
    ASSERT_TRUE(client.handshake());  // the loops run
  }
  ASSERT_TRUE(wait_for_no_connections(server));  // so that stop() has no one to wait for
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      ASSERT_EQ(server.port(), port);
      std::this_thread::yield();
    }
  });
  server.stop();  // the loop threads close the listeners meanwhile
  runner.join();
  done = true;
  reader.join();
  EXPECT_EQ(server.port(), port);  // still the port it served on
}

TEST(ServerThreads, AsyncUpgradesAnsweredFromOtherThreadsWhileClientsLeave) {
  constexpr int clients = 3;
  constexpr int rounds = 10;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::pair<std::string, UpgradeResponder>> pending;  // guarded by mutex
  bool done = false;                                             // guarded by mutex
  Server server({.threads = 2});
  server.route("/*", {.upgrade_async =
                          [&](const UpgradeRequest& request, UpgradeResponder responder) {
                            std::lock_guard lock(mutex);
                            pending.emplace_back(std::string(request.path), std::move(responder));
                            changed.notify_all();
                          },
                      .message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); }});
  RunningServer running(server);
  std::vector<std::thread> deciders;
  for (int d = 0; d < 2; ++d) {
    deciders.emplace_back([&] {
      for (;;) {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return done || !pending.empty(); });
        if (pending.empty()) return;
        auto [path, responder] = std::move(pending.front());
        pending.pop_front();
        lock.unlock();
        if (path == "/accept" || path == "/leave") {
          responder.accept({}, path);  // false for a client that left: no matter
        } else {
          responder.reject(401, "no\n");
        }
      }
    });
  }
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int round = 0; round < rounds; ++round) {
        RawWsClient client(running.port());
        ASSERT_TRUE(client.connected());
        switch ((c + round) % 3) {
          case 0:
            ASSERT_TRUE(client.handshake({}, "/accept"));
            ASSERT_TRUE(client.send("after the decision"));
            {
              std::optional<RecordedEvent> echo = client.next_message();
              ASSERT_TRUE(echo);
              EXPECT_EQ(echo->text(), "after the decision");
            }
            break;
          case 1:
            EXPECT_FALSE(client.handshake({}, "/reject"));
            EXPECT_EQ(client.status(), 401);
            break;
          default:
            // Leaves while the decision may be on its way: the answer finds no one.
            ASSERT_TRUE(client.write_all(
                "GET /leave HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"));
            break;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  {
    std::lock_guard lock(mutex);
    done = true;
    changed.notify_all();
  }
  for (std::thread& decider : deciders) decider.join();
  EXPECT_TRUE(wait_for_no_connections(server));
}

TEST(ServerThreads, TlsConnectionsOnEveryThreadAtOnce) {
  constexpr int clients = 3;
  constexpr int rounds = 4;
  const test::TestPki& pki = test::test_pki();
  Server server({.threads = 2,
                 .tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                         .private_key_file = pki.server_key}});
  ASSERT_EQ(server.tls_error(), "");
  server.route("/", {.message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); }});
  RunningServer running(server);
  io::TlsClientOptions tls_options;
  tls_options.ca_file = pki.ca_certificate;
  tls_options.use_system_ca = false;
  const io::TlsContext context = io::TlsContext::client(tls_options);  // shared by the threads
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int round = 0; round < rounds; ++round) {
        RawWsClient client(running.port());
        client.use_tls(context, "localhost");
        ASSERT_TRUE(client.handshake({.host = "localhost", .secure = true}));
        const std::string text(20000 + c * 1000 + round, static_cast<char>('a' + c));
        ASSERT_TRUE(client.send(text));
        std::optional<RecordedEvent> echo = client.next_message();
        ASSERT_TRUE(echo);
        EXPECT_EQ(echo->text(), text);
        EXPECT_TRUE(close_cleanly(client));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(wait_for_no_connections(server));
}

}  // namespace
}  // namespace wsx
