// The adapter between hiredis's asynchronous API and our event loop, against a scripted
// stand-in for Redis on loopback (a thread with blocking sockets): replies arrive, large
// commands and replies cross in pieces (write interest on and off), a refused connect reaches
// the connect callback, and freeing the context leaves no registration behind.
#include "redis/hiredis_loop_adapter.hpp"

#include <gtest/gtest.h>
#include <hiredis/async.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "loop_watchdog.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx::redis {
namespace {

// Listens on 127.0.0.1 (port 0); serve() runs `script` on the first accepted connection.
class FakeRedis {
 public:
  FakeRedis() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(listener_, 4);
    socklen_t size = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~FakeRedis() {
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }

  void serve(std::function<void(int fd)> script) {
    thread_ = std::thread([this, script = std::move(script)] {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      script(fd);
      ::close(fd);
    });
  }

  // Reads until `needle` has arrived (or the peer closed); returns everything read.
  static std::string read_until(int fd, std::string_view needle) {
    std::string got;
    char buffer[65536];
    while (got.find(needle) == std::string::npos) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
  }
  static void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd, data.data(), data.size());
      if (n <= 0) return;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

struct Outcome {
  io::EventLoop* loop = nullptr;
  std::string reply;
  int replies = 0;
  int connect_status = -100;
};

TEST(HiredisLoopAdapter, CommandAndReplyThroughTheLoop) {
  FakeRedis fake;
  fake.serve([](int fd) {
    FakeRedis::read_until(fd, "PING\r\n");
    FakeRedis::write_all(fd, "+PONG\r\n");
    FakeRedis::read_until(fd, "\r\n\r\n");  // until the client goes away
  });
  io::EventLoop loop;
  test::arm_watchdog(loop);
  redisAsyncContext* context = redisAsyncConnect("127.0.0.1", fake.port());
  ASSERT_EQ(context->err, 0);
  ASSERT_TRUE(attach_to_loop(loop, context));
  EXPECT_FALSE(attach_to_loop(loop, context));  // one event library per context
  const int fd = context->c.fd;
  EXPECT_TRUE(loop.registered(fd));
  Outcome outcome{&loop};
  context->data = &outcome;
  redisAsyncSetConnectCallback(context, [](const redisAsyncContext* c, int status) {
    static_cast<Outcome*>(c->data)->connect_status = status;
  });
  redisAsyncCommand(
      context,
      [](redisAsyncContext* c, void* r, void*) {
        auto* outcome = static_cast<Outcome*>(c->data);
        auto* reply = static_cast<redisReply*>(r);
        if (reply != nullptr) outcome->reply.assign(reply->str, reply->len);
        ++outcome->replies;
        outcome->loop->stop();
      },
      nullptr, "PING");
  loop.run();
  EXPECT_EQ(outcome.connect_status, REDIS_OK);
  EXPECT_EQ(outcome.reply, "PONG");
  EXPECT_EQ(outcome.replies, 1);
  redisAsyncFree(context);  // cleanup hook: the socket leaves the loop before it is closed
  EXPECT_FALSE(loop.registered(fd));
}

TEST(HiredisLoopAdapter, LargeCommandAndReplyCrossInPieces) {
  // 8 MiB each way: more than loopback's socket buffers, so hiredis must wait for writability
  // (addWrite/delWrite) and read the reply over many wakeups.
  constexpr std::size_t size = 8 * 1024 * 1024;
  FakeRedis fake;
  fake.serve([](int fd) {
    // Read the whole command before answering, so our side has to stop writing at some point.
    const std::string command = FakeRedis::read_until(fd, std::string(64, 'z') + "\r\n");
    const std::string value(size, 'r');
    FakeRedis::write_all(fd, "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n");
    FakeRedis::write_all(fd, ":" + std::to_string(command.size()) + "\r\n");
    FakeRedis::read_until(fd, "\r\n\r\n");
  });
  io::EventLoop loop;
  test::arm_watchdog(loop, std::chrono::seconds(30));
  redisAsyncContext* context = redisAsyncConnect("127.0.0.1", fake.port());
  ASSERT_TRUE(attach_to_loop(loop, context));
  Outcome outcome{&loop};
  context->data = &outcome;
  const std::string argument = std::string(size, 'a') + std::string(64, 'z');
  auto on_reply = [](redisAsyncContext* c, void* r, void*) {
    auto* outcome = static_cast<Outcome*>(c->data);
    auto* reply = static_cast<redisReply*>(r);
    if (reply == nullptr) return;
    if (reply->type == REDIS_REPLY_STRING) outcome->reply.assign(reply->str, reply->len);
    if (reply->type == REDIS_REPLY_INTEGER)
      outcome->connect_status = static_cast<int>(reply->integer);
    if (++outcome->replies == 2) outcome->loop->stop();
  };
  redisAsyncCommand(context, on_reply, nullptr, "SET k %b", argument.data(), argument.size());
  redisAsyncCommand(context, on_reply, nullptr, "GET k");
  loop.run();
  ASSERT_EQ(outcome.replies, 2);
  EXPECT_EQ(outcome.reply, std::string(size, 'r'));
  // What the stand-in read: the whole SET (header, key, argument) and the GET after it.
  EXPECT_GT(outcome.connect_status, static_cast<int>(size));
  redisAsyncFree(context);
}

TEST(HiredisLoopAdapter, RefusedConnectReachesTheConnectCallbackAndCleansUp) {
  int port = 0;
  {
    FakeRedis closed;  // a port nobody listens on once this is gone
    port = closed.port();
  }
  io::EventLoop loop;
  test::arm_watchdog(loop);
  redisAsyncContext* context = redisAsyncConnect("127.0.0.1", port);
  if (context->err != 0) {  // refused at once: nothing for the adapter to do
    redisAsyncFree(context);
    GTEST_SKIP() << "connect failed synchronously";
  }
  ASSERT_TRUE(attach_to_loop(loop, context));
  const int fd = context->c.fd;
  Outcome outcome{&loop};
  context->data = &outcome;
  redisAsyncSetConnectCallback(context, [](const redisAsyncContext* c, int status) {
    auto* outcome = static_cast<Outcome*>(c->data);
    outcome->connect_status = status;
    // hiredis frees the context after this callback; stop once that has happened.
    outcome->loop->post([loop = outcome->loop] { loop->stop(); });
  });
  loop.run();
  EXPECT_EQ(outcome.connect_status, REDIS_ERR);
  EXPECT_FALSE(loop.registered(fd));  // freed by hiredis: the cleanup hook unregistered it
}

TEST(HiredisLoopAdapter, PeerClosingReachesTheDisconnectCallback) {
  FakeRedis fake;
  fake.serve([](int fd) { FakeRedis::read_until(fd, "PING\r\n"); });  // then closes
  io::EventLoop loop;
  test::arm_watchdog(loop);
  redisAsyncContext* context = redisAsyncConnect("127.0.0.1", fake.port());
  ASSERT_TRUE(attach_to_loop(loop, context));
  const int fd = context->c.fd;
  Outcome outcome{&loop};
  context->data = &outcome;
  redisAsyncSetDisconnectCallback(context, [](const redisAsyncContext* c, int status) {
    auto* outcome = static_cast<Outcome*>(c->data);
    outcome->connect_status = status;
    outcome->loop->post([loop = outcome->loop] { loop->stop(); });
  });
  redisAsyncCommand(
      context,
      [](redisAsyncContext* c, void* r, void*) {
        // Unanswered: called once with no reply as the context goes.
        if (r == nullptr) ++static_cast<Outcome*>(c->data)->replies;
      },
      nullptr, "PING");
  loop.run();
  EXPECT_EQ(outcome.replies, 1);
  EXPECT_FALSE(loop.registered(fd));
}

TEST(HiredisLoopAdapter, ContextOnAGivenSocketTalksOverItAndClosesItWhenFreed) {
  // The broker connects (and, for rediss://, relays TLS) itself and gives hiredis the socket:
  // here one end of a socket pair, the test playing Redis on the other.
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
  io::EventLoop loop;
  test::arm_watchdog(loop);
  redisAsyncContext* context = async_context_on_socket(pair[0]);
  ASSERT_NE(context, nullptr);
  EXPECT_EQ(context->err, 0);
  EXPECT_EQ(context->c.fd, pair[0]);
  ASSERT_TRUE(attach_to_loop(loop, context));
  Outcome outcome{&loop};
  context->data = &outcome;
  redisAsyncCommand(
      context,
      [](redisAsyncContext* c, void* r, void*) {
        auto* outcome = static_cast<Outcome*>(c->data);
        auto* reply = static_cast<redisReply*>(r);
        if (reply != nullptr) outcome->reply.assign(reply->str, reply->len);
        ++outcome->replies;
        outcome->loop->stop();
      },
      nullptr, "ECHO %s", "over the pair");
  // Playing Redis: read the command when it arrives, answer it.
  std::string command;
  bool answered = false;
  loop.run_every(std::chrono::milliseconds(5), [&] {
    char buffer[256];
    const ssize_t n = ::read(pair[1], buffer, sizeof buffer);
    if (n > 0) command.append(buffer, static_cast<std::size_t>(n));
    if (!answered && command.find("over the pair\r\n") != std::string::npos) {
      answered = true;
      FakeRedis::write_all(pair[1], "$13\r\nover the pair\r\n");
    }
  });
  loop.run();
  EXPECT_EQ(command, "*2\r\n$4\r\nECHO\r\n$13\r\nover the pair\r\n");
  EXPECT_EQ(outcome.reply, "over the pair");
  EXPECT_EQ(outcome.replies, 1);
  redisAsyncFree(context);
  EXPECT_FALSE(loop.registered(pair[0]));
  // hiredis closed its end: the other end reads end of file.
  char byte = 0;
  EXPECT_EQ(::read(pair[1], &byte, 1), 0);
  ::close(pair[1]);
}

}  // namespace
}  // namespace wsx::redis
