// Runs the built examples/echo_server binary and talks to it over the network, the way
// conformance tools and the benchmark harness do.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "raw_ws_client.hpp"

namespace {

using namespace std::chrono_literals;

class EchoServerProcess {
 public:
  explicit EchoServerProcess(std::vector<std::string> args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      static std::string path = WSX_ECHO_SERVER_PATH;
      argv.push_back(path.data());
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(path.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    // "echo_server listening on 127.0.0.1:PORT\n"
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
  ~EchoServerProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::uint16_t port() const { return port_; }
  // SIGTERM, then the exit status (-1 if it did not exit within `timeout`).
  int terminate(std::chrono::milliseconds timeout = 5s) {
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  bool reaped_ = false;
};

TEST(EchoServerBinary, EchoesWithOpcodeAndStopsGracefullyOnSigterm) {
  EchoServerProcess server({"--port", "0", "--threads", "2", "--max-message", "100000"});
  ASSERT_NE(server.port(), 0);
  auto client_owner = std::make_unique<wsx::test::RawWsClient>(server.port());
  wsx::test::RawWsClient& client = *client_owner;
  ASSERT_TRUE(client.handshake({}, "/whatever/path"));
  ASSERT_TRUE(client.send("hello"));
  std::optional<wsx::test::RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->message_kind, wsx::proto::MessageKind::text);
  EXPECT_EQ(echo->text(), "hello");
  const std::vector<std::uint8_t> binary(70000, 0xAB);
  ASSERT_TRUE(client.send(binary, wsx::proto::MessageKind::binary));
  echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->message_kind, wsx::proto::MessageKind::binary);
  EXPECT_EQ(echo->data, binary);
  // --max-message: one byte more is refused with 1009.
  ASSERT_TRUE(client.send(std::vector<std::uint8_t>(100001, 1), wsx::proto::MessageKind::binary));
  echo = client.next_event();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->kind, wsx::proto::EventKind::close);
  EXPECT_EQ(echo->close_code, 1009);
  EXPECT_TRUE(client.wait_eof());
  client_owner.reset();

  wsx::test::RawWsClient other(server.port());
  ASSERT_TRUE(other.handshake());
  std::thread stopper([&] { EXPECT_EQ(server.terminate(), 0); });
  std::optional<wsx::test::RecordedEvent> close = other.next_event();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->close_code, 1001);
  other.flush();
  stopper.join();
}

TEST(EchoServerBinary, CompressFlagNegotiatesDeflate) {
  EchoServerProcess server({"--port", "0", "--compress"});
  ASSERT_NE(server.port(), 0);
  auto client_owner = std::make_unique<wsx::test::RawWsClient>(server.port());
  wsx::test::RawWsClient& client = *client_owner;
  ASSERT_TRUE(client.handshake({.deflate = wsx::proto::DeflateClientOptions{}}));
  EXPECT_TRUE(client.handshake_result().deflate);
  const std::string text(5000, 'z');
  ASSERT_TRUE(client.send(text));
  std::optional<wsx::test::RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->text(), text);
  client_owner.reset();  // no connection left: the server exits at once
  EXPECT_EQ(server.terminate(), 0);
}

TEST(EchoServerBinary, RejectsUnknownFlags) {
  EchoServerProcess server({"--bogus"});
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.terminate(), 2);
}

}  // namespace
