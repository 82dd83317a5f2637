#include "session/topics.hpp"
#include "session/tcp_carrier.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "session/session.hpp"
#include "wsx/proto/connection.hpp"
#include "wsx/proto/deflate.hpp"
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

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// A compressible message, longer than any threshold used here.
std::string sample_message(char tag) {
  std::string text;
  for (int i = 0; text.size() < 2000; ++i)
    text += std::string("{\"n\":") + std::to_string(i) + tag + "}";
  return text;
}

proto::DeflateParams stateless_params(std::uint8_t window_bits) {
  proto::DeflateParams params;
  params.server_no_context_takeover = true;
  params.server_max_window_bits = window_bits;
  return params;
}

// The shared compressed frame must be byte for byte what a connection that resets its
// compressor after every message sends, for every message (no state carried over).
TEST(SharedFrame, CompressedFrameIsWhatAStatelessServerConnectionSends) {
  for (const std::uint8_t window_bits : {9, 10, 11, 15}) {
    proto::DeflateTuning tuning;  // the default tuning caps the window at 13
    proto::ConnectionOptions options;
    options.role = proto::Role::server;
    options.deflate = stateless_params(window_bits);
    options.deflate_tuning = tuning;
    proto::Connection connection(options);
    for (const char tag : {'a', 'b', 'a'}) {
      const std::string text = sample_message(tag);
      ASSERT_EQ(connection.send_text(text), proto::SendResult::ok);
      const std::span<const std::uint8_t> sent = connection.pending_output();
      const auto frame =
          make_compressed_shared_frame(MessageKind::text, bytes_of(text), window_bits, tuning);
      EXPECT_TRUE(frame->compressed);
      EXPECT_EQ(frame->kind, MessageKind::text);
      EXPECT_LT(frame->bytes.size(), text.size() / 2) << "not compressed";
      EXPECT_TRUE(std::equal(sent.begin(), sent.end(), frame->bytes.begin(), frame->bytes.end()))
          << "window " << int(window_bits) << ", message " << tag;
      connection.consume_output(sent.size());
    }
  }
}

class NullOwner final : public SessionOwner {
 public:
  explicit NullOwner(TopicRegistry* registry = nullptr) { topic_registry = registry; }
  void release(Session&) noexcept override {}
};

// Sessions that never open: enough for the registry's bookkeeping.
class RegistryTest : public ::testing::Test {
 protected:
  std::unique_ptr<Session> make_session() { return make_session(owner_); }
  std::unique_ptr<Session> make_session(SessionOwner& owner) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    ::close(fds[1]);
    return std::make_unique<TcpSession>(config_, owner, nullptr, loop_, io::TcpSocket(fds[0]),
                                        std::nullopt);
  }
  io::EventLoop loop_;
  SessionConfig config_;
  TopicRegistry registry_;
  NullOwner owner_{&registry_};
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

// A registry that goes first detaches its sessions: they must not reach it from their
// destructors.
TEST_F(RegistryTest, RegistryDestroyedFirstDetachesItsSessions) {
  NullOwner owner;  // outlives the session, its registry does not
  std::unique_ptr<Session> a;
  {
    TopicRegistry early;
    owner.topic_registry = &early;
    a = make_session(owner);
    EXPECT_EQ(a->topics_registry(), &early);
    EXPECT_TRUE(early.subscribe(*a, "t"));
    EXPECT_TRUE(early.subscribe(*a, "u"));
  }
  EXPECT_EQ(a->topics_registry(), nullptr);
  a.reset();  // leaves no topic: under ASan, reaching `early` here is a use after scope
}

TEST_F(RegistryTest, DeliverSkipsConnectionsThatAreNotOpen) {
  auto a = make_session();
  registry_.subscribe(*a, "t");
  const auto frame = make_shared_frame(MessageKind::text, std::vector<std::uint8_t>{'x'});
  EXPECT_EQ(registry_.deliver("t", frame, nullptr), 0u);  // still handshaking: not sent
  EXPECT_EQ(registry_.deliver("none", frame, nullptr), 0u);
}

// Collects the messages a client connection decodes.
class Messages final : public proto::EventHandler {
 public:
  void on_event(const proto::Event& event) override {
    if (event.kind == proto::EventKind::message) {
      texts.emplace_back(event.text());
    } else {
      ADD_FAILURE() << "unexpected event " << static_cast<int>(event.kind) << " "
                    << proto::describe(event.error);
    }
  }
  std::vector<std::string> texts;
};

// Open server sessions on socketpairs, as negotiated with different clients: what each one's
// peer receives from deliver() must decode, under that peer's parameters, to the messages.
class DeliverTest : public ::testing::Test {
 protected:
  struct Subscriber {
    std::unique_ptr<Session> session;
    int peer = -1;
    std::optional<proto::DeflateParams> deflate;
  };

  DeliverTest() { config_.deflate_tuning.threshold = 100; }
  ~DeliverTest() override {
    for (Subscriber& subscriber : subscribers_) {
      subscriber.session.reset();
      ::close(subscriber.peer);
    }
  }

  Subscriber& open(std::optional<proto::DeflateParams> deflate) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    Subscriber subscriber;
    subscriber.session = std::make_unique<TcpSession>(config_, owner_, nullptr, loop_,
                                                      io::TcpSocket(fds[0]), std::nullopt);
    subscriber.session->open({.role = proto::Role::server, .deflate = deflate});
    subscriber.peer = fds[1];
    subscriber.deflate = deflate;
    EXPECT_TRUE(registry_.subscribe(*subscriber.session, "t"));
    subscribers_.push_back(std::move(subscriber));
    return subscribers_.back();
  }

  // Runs one loop iteration: the queued frames leave.
  void flush() {
    loop_.stop();
    loop_.run();
  }

  static std::vector<std::uint8_t> received(const Subscriber& subscriber) {
    std::vector<std::uint8_t> bytes;
    std::uint8_t buffer[65536];
    for (;;) {
      const ssize_t got = ::read(subscriber.peer, buffer, sizeof buffer);
      if (got <= 0) return bytes;
      bytes.insert(bytes.end(), buffer, buffer + got);
    }
  }

  static std::vector<std::string> decode(const Subscriber& subscriber,
                                         std::vector<std::uint8_t> bytes) {
    proto::ConnectionOptions options;
    options.role = proto::Role::client;
    options.deflate = subscriber.deflate;
    proto::Connection client(options);
    Messages messages;
    client.receive(bytes, messages);
    return messages.texts;
  }

  io::EventLoop loop_;
  SessionConfig config_;
  TopicRegistry registry_;
  NullOwner owner_{&registry_};
  std::vector<Subscriber> subscribers_;
};

TEST_F(DeliverTest, EachSubscriberGetsFramesItsParametersDecode) {
  subscribers_.reserve(6);
  const Subscriber& stateless_a = open(stateless_params(15));
  const Subscriber& stateless_b = open(stateless_params(15));
  const Subscriber& stateless_small = open(stateless_params(9));
  const Subscriber& takeover = open(proto::DeflateParams{});
  const Subscriber& plain = open(std::nullopt);

  const std::string first = sample_message('x');
  const std::string second = sample_message('y');
  const std::string short_text = "below the threshold";
  for (const std::string& text : {first, second, first, short_text}) {
    EXPECT_EQ(registry_.deliver("t", make_shared_frame(MessageKind::text, bytes_of(text)), nullptr),
              5u);
  }
  flush();
  const std::vector<std::string> expected = {first, second, first, short_text};

  // Stateless subscribers with the same window get the same bytes: each message compressed
  // as make_compressed_shared_frame makes it, the short one uncompressed.
  const std::vector<std::uint8_t> bytes_a = received(stateless_a);
  EXPECT_EQ(bytes_a, received(stateless_b));
  std::vector<std::uint8_t> wanted;
  for (const std::string& text : {first, second, first}) {
    const auto frame =
        make_compressed_shared_frame(MessageKind::text, bytes_of(text), 15, config_.deflate_tuning);
    wanted.insert(wanted.end(), frame->bytes.begin(), frame->bytes.end());
  }
  const auto short_frame = make_shared_frame(MessageKind::text, bytes_of(short_text));
  wanted.insert(wanted.end(), short_frame->bytes.begin(), short_frame->bytes.end());
  EXPECT_EQ(bytes_a, wanted);
  EXPECT_EQ(decode(stateless_a, bytes_a), expected);

  EXPECT_EQ(decode(stateless_small, received(stateless_small)), expected);
  // Context takeover: compressed by the subscriber's own compressor, whose window remembers
  // `first`, so only its own history decodes it.
  const std::vector<std::uint8_t> takeover_bytes = received(takeover);
  EXPECT_LT(takeover_bytes.size(), bytes_a.size());
  EXPECT_EQ(decode(takeover, takeover_bytes), expected);
  const std::vector<std::uint8_t> plain_bytes = received(plain);
  EXPECT_GT(plain_bytes.size(), 3 * first.size());
  EXPECT_EQ(decode(plain, plain_bytes), expected);
}

}  // namespace
}  // namespace wsx::session
