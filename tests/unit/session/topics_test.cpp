#include "session/topics.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "session/session.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::session {
namespace {

TEST(SharedFrame, IsOneUnmaskedFrameWithMinimalLength) {
  for (std::size_t size : {0u, 125u, 126u, 65535u, 65536u}) {
    const std::vector<std::uint8_t> payload(size, 0x5A);
    const auto frame = make_shared_frame(MessageKind::binary, payload);
    proto::FrameHeader header;
    const proto::FrameDecodeResult decoded =
        proto::decode_frame_header(frame->bytes.data(), frame->bytes.size(), header);
    ASSERT_EQ(decoded.status, proto::DecodeStatus::ok) << size;
    EXPECT_EQ(decoded.header_size, frame->header_size);
    EXPECT_EQ(decoded.header_size, proto::frame_header_size(size, false));
    EXPECT_TRUE(header.fin);
    EXPECT_FALSE(header.masked);
    EXPECT_FALSE(header.rsv1);
    EXPECT_EQ(header.opcode, proto::Opcode::binary);
    EXPECT_EQ(header.payload_length, size);
    EXPECT_TRUE(std::equal(frame->payload().begin(), frame->payload().end(), payload.begin(),
                           payload.end()));
  }
  const auto text = make_shared_frame(MessageKind::text, std::vector<std::uint8_t>{'h', 'i'});
  EXPECT_EQ(text->bytes, (std::vector<std::uint8_t>{0x81, 0x02, 'h', 'i'}));
}

class NullOwner final : public SessionOwner {
 public:
  void release(Session&) noexcept override {}
};

// Sessions that never open: enough for the registry's bookkeeping.
class RegistryTest : public ::testing::Test {
 protected:
  std::unique_ptr<Session> make_session() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    ::close(fds[1]);
    auto session = std::make_unique<Session>(loop_, io::TcpSocket(fds[0]), std::nullopt, config_,
                                             owner_, nullptr);
    session->set_topics(&registry_);
    return session;
  }
  io::EventLoop loop_;
  SessionConfig config_;
  NullOwner owner_;
  TopicRegistry registry_;
};

TEST_F(RegistryTest, SubscribeUnsubscribeAndCleanupOnDestruction) {
  auto a = make_session();
  auto b = make_session();
  EXPECT_TRUE(registry_.subscribe(*a, "news"));
  EXPECT_FALSE(registry_.subscribe(*a, "news"));
  EXPECT_TRUE(registry_.subscribe(*b, "news"));
  EXPECT_TRUE(registry_.subscribe(*b, "sport"));
  EXPECT_EQ(registry_.subscribers("news"), 2u);
  EXPECT_TRUE(registry_.subscribed(*b, "sport"));
  EXPECT_FALSE(registry_.subscribed(*a, "sport"));
  EXPECT_TRUE(registry_.unsubscribe(*a, "news"));
  EXPECT_FALSE(registry_.unsubscribe(*a, "news"));
  EXPECT_FALSE(registry_.unsubscribe(*a, "unknown"));
  EXPECT_EQ(registry_.subscribers("news"), 1u);
  b.reset();  // a destroyed session leaves every topic
  EXPECT_EQ(registry_.subscribers("news"), 0u);
  EXPECT_EQ(registry_.subscribers("sport"), 0u);
}

TEST_F(RegistryTest, DeliverSkipsConnectionsThatAreNotOpen) {
  auto a = make_session();
  registry_.subscribe(*a, "t");
  const auto frame = make_shared_frame(MessageKind::text, std::vector<std::uint8_t>{'x'});
  EXPECT_EQ(registry_.deliver("t", frame, nullptr), 0u);  // still handshaking: not sent
  EXPECT_EQ(registry_.deliver("none", frame, nullptr), 0u);
}

}  // namespace
}  // namespace wsx::session
