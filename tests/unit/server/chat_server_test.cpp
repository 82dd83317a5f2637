// Runs the built examples/chat_server binary: rooms by path, every text message relayed to the
// whole room (sender included) and to no other room, the message limit, SIGTERM closing 1001.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "example_process.hpp"
#include "raw_ws_client.hpp"

namespace {

using namespace std::chrono_literals;
using wsx::test::RawWsClient;
using wsx::test::RecordedEvent;

wsx::test::ExampleProcess start_chat_server() {
  return wsx::test::ExampleProcess(WSX_CHAT_SERVER_PATH, {"--port", "0", "--threads", "2"});
}

// The server subscribes a connection in its open callback, which may run after the client has
// read its 101: a message published before then would miss it. Its own message coming back
// proves it is in the room. With two threads, a publish from another thread reaches this one's
// subscribers through its loop a little later, so an earlier "joined" of someone else may still
// arrive first: skip anything that is not our own.
void wait_joined(RawWsClient& client, const std::string& name) {
  ASSERT_TRUE(client.send("joined " + name));
  for (int i = 0; i < 10; ++i) {
    std::optional<RecordedEvent> message = client.next_message();
    ASSERT_TRUE(message);
    if (message->text() == "joined " + name) return;
    EXPECT_EQ(message->text().substr(0, 7), "joined ");
  }
  FAIL() << name << " never saw its own message";
}

// Reads the `expected` messages (each may still be on its way from another server thread, so
// each gets the full default wait), then until the room has been quiet for a moment; returns
// what arrived.
std::vector<std::string> drain(RawWsClient& client, std::size_t expected = 0) {
  std::vector<std::string> texts;
  while (texts.size() < expected) {
    std::optional<RecordedEvent> message = client.next_message();
    if (!message) return texts;
    texts.emplace_back(message->text());
  }
  while (std::optional<RecordedEvent> message = client.next_message(300ms)) {
    texts.emplace_back(message->text());
  }
  return texts;
}

TEST(ChatServerBinary, RelaysToEveryoneInTheRoomOnly) {
  wsx::test::ExampleProcess server = start_chat_server();
  ASSERT_NE(server.port(), 0);
  RawWsClient alice(server.port()), bob(server.port()), carol(server.port());
  ASSERT_TRUE(alice.handshake({}, "/rooms/lobby"));
  wait_joined(alice, "alice");
  ASSERT_TRUE(bob.handshake({}, "/rooms/lobby"));
  wait_joined(bob, "bob");
  ASSERT_TRUE(carol.handshake({}, "/rooms/kitchen"));
  wait_joined(carol, "carol");
  // Alice was in the lobby when Bob joined; Bob came after Alice's notice; Carol is elsewhere.
  EXPECT_EQ(drain(alice, 1), std::vector<std::string>{"joined bob"});
  EXPECT_TRUE(drain(bob).empty());
  EXPECT_TRUE(drain(carol).empty());

  ASSERT_TRUE(alice.send("hello lobby"));
  for (RawWsClient* client : {&alice, &bob}) {
    std::optional<RecordedEvent> message = client->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->message_kind, wsx::proto::MessageKind::text);
    EXPECT_EQ(message->text(), "hello lobby");
  }
  EXPECT_FALSE(carol.next_message(300ms));  // another room

  // Binary messages are not relayed; a message over 64 KiB closes its sender with 1009.
  ASSERT_TRUE(bob.send(std::vector<std::uint8_t>{1, 2, 3}, wsx::proto::MessageKind::binary));
  EXPECT_FALSE(alice.next_message(300ms));
  ASSERT_TRUE(carol.send(std::string(64 * 1024 + 1, 'x')));
  std::optional<RecordedEvent> close = carol.next_event();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind, wsx::proto::EventKind::close);
  EXPECT_EQ(close->close_code, 1009);

  std::thread stopper([&] { EXPECT_EQ(server.terminate(), 0); });
  for (RawWsClient* client : {&alice, &bob}) {
    std::optional<RecordedEvent> going_away = client->next_event();
    ASSERT_TRUE(going_away);
    EXPECT_EQ(going_away->kind, wsx::proto::EventKind::close);
    EXPECT_EQ(going_away->close_code, 1001);
    client->flush();
  }
  stopper.join();
}

TEST(ChatServerBinary, RefusesARoomlessPathAndOtherPaths) {
  wsx::test::ExampleProcess server = start_chat_server();
  ASSERT_NE(server.port(), 0);
  RawWsClient no_room(server.port());
  EXPECT_FALSE(no_room.handshake({}, "/rooms/"));
  EXPECT_EQ(no_room.status(), 400);
  // The prefix route covers its bare directory too: once a crash of the whole server.
  RawWsClient bare(server.port());
  EXPECT_FALSE(bare.handshake({}, "/rooms"));
  EXPECT_EQ(bare.status(), 400);
  RawWsClient after(server.port());
  ASSERT_TRUE(after.handshake({}, "/rooms/lobby"));
  wait_joined(after, "after");
  ASSERT_TRUE(after.close());  // so that SIGTERM need not wait for it
  std::optional<RecordedEvent> closed = after.next_event();
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->kind, wsx::proto::EventKind::close);
  RawWsClient elsewhere(server.port());
  EXPECT_FALSE(elsewhere.handshake({}, "/echo"));
  EXPECT_EQ(elsewhere.status(), 404);
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
