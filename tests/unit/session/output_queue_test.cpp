#include "session/output_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "session/carrier.hpp"
#include "session/topics.hpp"
#include "wsx/proto/connection.hpp"

namespace wsx::session {
namespace {

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// What a carrier would send: everything gathered, `chunk` bytes consumed at a time.
std::string drain(OutputQueue& queue, proto::Connection* connection, std::size_t chunk) {
  std::string sent;
  for (int round = 0; round < 1000; ++round) {
    io::ConstBuffer buffers[max_gather_buffers];
    const std::size_t count = queue.gather(connection, buffers);
    std::string gathered;
    for (std::size_t i = 0; i < count; ++i) gathered.append(buffers[i].begin(), buffers[i].end());
    if (gathered.empty()) break;
    const std::size_t n = std::min(chunk, gathered.size());
    sent += gathered.substr(0, n);
    queue.consume(connection, n);
  }
  return sent;
}

// The unmasked frame a server sends for a short text message.
std::string text_frame(std::string_view text) {
  return std::string{'\x81', static_cast<char>(text.size())} + std::string(text);
}

proto::Connection server_connection() {
  proto::ConnectionOptions options;
  options.role = proto::Role::server;
  return proto::Connection(options);
}

TEST(OutputQueue, HandshakeBytesFirstThenFramesInTheOrderTheyWereQueued) {
  proto::Connection connection = server_connection();
  OutputQueue queue;
  queue.append_raw("HTTP/1.1 101 Switching Protocols\r\n\r\n");
  ASSERT_EQ(connection.send(MessageKind::text, bytes("one")), proto::SendResult::ok);
  queue.push_shared(make_shared_frame(MessageKind::text, bytes("shared")),
                    connection.buffered_amount());
  ASSERT_EQ(connection.send(MessageKind::text, bytes("two")), proto::SendResult::ok);
  EXPECT_EQ(queue.bytes(), 36u + text_frame("shared").size());

  // One byte at a time: every boundary between the three sources is crossed mid-way.
  const std::string sent = drain(queue, &connection, 1);
  EXPECT_EQ(sent, "HTTP/1.1 101 Switching Protocols\r\n\r\n" + text_frame("one") +
                      text_frame("shared") + text_frame("two"));
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(connection.buffered_amount(), 0u);
}

TEST(OutputQueue, OnlyHandshakeBytesLeaveNothingWorthKeeping) {
  OutputQueue queue;
  queue.append_raw("HTTP/1.1 403 Forbidden\r\n\r\n");
  EXPECT_FALSE(queue.disposable());
  EXPECT_EQ(drain(queue, nullptr, 5), "HTTP/1.1 403 Forbidden\r\n\r\n");
  EXPECT_TRUE(queue.disposable());

  proto::Connection connection = server_connection();
  queue.push_shared(make_shared_frame(MessageKind::text, bytes("x")), 0);
  drain(queue, &connection, 64);
  EXPECT_FALSE(queue.disposable());  // frames came once: more are likely (a subscriber)
}

TEST(OutputQueue, BorrowedPayloadIsCopiedBeforeItsBytesGo) {
  proto::Connection connection = server_connection();
  OutputQueue queue;
  std::string received = "payload";
  const std::uint8_t header[] = {0x82, 7};
  queue.push_borrowed(header, bytes(received), connection.buffered_amount());
  EXPECT_TRUE(queue.has_borrowed());

  // Part of it leaves while borrowed, the rest is copied, then the received bytes are reused.
  io::ConstBuffer buffers[max_gather_buffers];
  ASSERT_EQ(queue.gather(&connection, buffers), 2u);  // header, then the payload in place
  EXPECT_EQ(buffers[1].data(), reinterpret_cast<const std::uint8_t*>(received.data()));
  queue.consume(&connection, 4);
  queue.copy_borrowed();
  EXPECT_FALSE(queue.has_borrowed());
  received.assign(received.size(), 'X');

  EXPECT_EQ(drain(queue, &connection, 64), "yload");
}

TEST(OutputQueue, OwnedPayloadIsSentFromItsStorageAfterWhatAlreadyLeft) {
  proto::Connection connection = server_connection();
  OutputQueue queue;
  const std::string message = "a received message";
  std::vector<std::uint8_t> storage(message.begin(), message.end());
  const std::uint8_t* const where = storage.data();
  const std::uint8_t header[] = {0x82, static_cast<std::uint8_t>(message.size())};
  // One byte of the header already left; the rest of it and the payload wait in the storage.
  queue.push_owned(header, storage, 1, std::move(storage), connection.buffered_amount());
  EXPECT_FALSE(queue.has_borrowed());  // owned, not borrowed: copy_borrowed leaves it
  queue.copy_borrowed();
  EXPECT_EQ(queue.bytes(), 1u + message.size());

  io::ConstBuffer buffers[max_gather_buffers];
  ASSERT_EQ(queue.gather(&connection, buffers), 2u);
  EXPECT_EQ(buffers[1].data(), where);  // the payload is sent from the storage, not a copy
  EXPECT_EQ(drain(queue, &connection, 5), std::string(1, char(message.size())) + message);
  EXPECT_EQ(queue.bytes(), 0u);

  // Everything of the header already left: the payload's remaining part only.
  std::vector<std::uint8_t> again(message.begin(), message.end());
  queue.push_owned(header, again, 2 + 9, std::move(again), connection.buffered_amount());
  EXPECT_EQ(drain(queue, &connection, 64), message.substr(9));
}

}  // namespace
}  // namespace wsx::session
