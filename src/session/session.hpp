// The per-connection runtime behind wsx::WebSocket, shared by the server and the client.
//
// A Session runs on a carrier (carrier.hpp: TCP/TLS today; it never asks which) and owns, once
// the opening handshake is done, the protocol Connection. The carrier lives beside it in one
// allocation: SessionOn<TcpCarrier> (TcpSession) is what owners create. It has two phases:
//   1. handshake: bytes from the peer go to a Handshake object (the server's request parser or
//      the client's response checker), which may write_raw() HTTP bytes and finally calls
//      open() (WebSocket protocol starts), reject() (send a response, then close) or abort().
//   2. open: bytes go to Connection::receive, events become the WebSocketHandlers callbacks
//      (dispatch.cpp: every call into application code is guarded there, see Session::call),
//      Connection output (plus frames shared by publish) is pulled by the carrier.
//
// Lifetime: the session is created by its owner (server worker or client) and tells the owner
// when it is done through SessionOwner::release(), which must destroy it. release() is only ever
// called when no session code is on the stack (from the outermost entry point), so the owner may
// delete the session at once. Everything runs on the loop thread.
//
// Stable interface for the client layer: TcpSession's constructor, start(), write_raw(), open(),
// reject(), abort(), going_away(), and the Handshake / SessionOwner interfaces
// (session_owner.hpp).
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "session/carrier.hpp"
#include "session/layer_export.hpp"
#include "session/memory_budget.hpp"
#include "session/output_queue.hpp"
#include "session/session_owner.hpp"
#include "wsx/error_report.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/timeout_wheel.hpp"
#include "wsx/proto/connection.hpp"
#include "wsx/websocket.hpp"

namespace wsx::session {

class ConnectionMetrics;
class OutputQueue;
class Session;
class TopicRegistry;
struct SharedFrame;

// Sends below this size are copied into the output queue, so that the frames of one loop
// iteration leave in one writev. Larger ones (plain TCP) are not copied when that can be
// avoided: a payload inside the bytes being received (an echo, a forward) is queued by
// reference and goes out before those bytes are released, with the frames around it in one
// writev; any other is offered to the socket at once when nothing is queued.
inline constexpr std::size_t direct_send_threshold = 16 * 1024;

// After the closing handshake (or a failure), input is drained while our close frame reaches
// the peer: at most this many bytes, then the connection is reset. Enough for the rest of a
// refused upload of moderate size; a flood is cut off.
inline constexpr std::size_t linger_discard_limit = 1024 * 1024;

class WSX_LAYER_API Session : public WebSocket,
                              private io::TimeoutEntry {  // the session's one timeout (timeout())
 public:
  virtual ~Session();

  // The carrier this session runs on (SessionOn below holds it).
  virtual Carrier& carrier() noexcept = 0;
  virtual const Carrier& carrier() const noexcept = 0;
  // carrier().write_blocked() in one virtual call, not two (carrier(), then its
  // write_blocked()): SessionOn knows its carrier's type. Asked on every send.
  virtual bool carrier_write_blocked() const noexcept = 0;

  // Arms the handshake timeout (0: none). Returns false when the transport could not even be
  // registered; the owner then destroys the session itself (release() is not called).
  bool start(io::Clock::duration handshake_timeout);

  // ---- handshake phase (from Handshake callbacks or right after start())
  // Switches to the configuration of the route the request chose (before open()).
  void set_config(const SessionConfig& config) noexcept { config_ = &config; }
  // Queues bytes to send before any WebSocket frame (an HTTP request or response head).
  void write_raw(std::string_view bytes);
  // Starts the WebSocket protocol: the open callback fires, then `rest` (bytes that followed
  // the handshake head) is processed as frames. Throws std::invalid_argument for deflate
  // params with a window outside 8-15 (negotiation never yields those).
  void open(OpenParams params, std::span<std::uint8_t> rest = {});
  // Sends what write_raw() queued (say a rejection), then closes the transport gracefully.
  void reject();
  // Drops the transport now. No WebSocket callback fires after this.
  void abort();

  // ---- any phase
  // Graceful shutdown: an open connection gets close 1001 and close_timeout to answer; one still
  // in its handshake is dropped, unless its Handshake keeps it (Handshake::on_going_away).
  void going_away();
  // Queues a frame built once for many connections (server role). An uncompressed frame whose
  // message this connection would compress is compressed for this connection instead (context
  // takeover makes the compressed bytes differ per connection); a compressed one (see
  // shared_compression_window) is queued as it is.
  SendStatus send_shared(const std::shared_ptr<const SharedFrame>& frame);
  // Non-zero when this connection would compress a message of `size` bytes and its compressed
  // form may be shared: our compressor resets after every message (server_no_context_takeover
  // negotiated), so the bytes depend only on the message, this window size and the route's
  // tuning. Zero otherwise.
  std::uint8_t shared_compression_window(std::size_t size) const noexcept;
  // Runs `task` as an entry point (for work posted to the loop: a task that closes or
  // terminates the connection is safe). Does nothing once the close callback has run.
  void run(const std::function<void(WebSocket&)>& task);
  // run() for the application's own task (WebSocketHandle::post): an exception it throws
  // fails the connection like one from a callback.
  void run_task(const std::function<void(WebSocket&)>& task);

  io::EventLoop& loop() noexcept { return carrier().loop(); }
  const SessionConfig& config() const noexcept { return *config_; }
  bool handshaking() const noexcept { return !opened_; }
  // Whether the protocol Connection exists yet (see connection_); for tests.
  bool protocol_created() const noexcept { return static_cast<bool>(connection_); }
  proto::ConnectionState protocol_state() const noexcept;
  // The owner's topics (SessionOwner::topic_registry), until the registry goes first and detaches
  // its subscribers (detach_topics()).
  TopicRegistry* topics_registry() const noexcept {
    return topics_detached_ ? nullptr : owner_.topic_registry;
  }
  void detach_topics() noexcept { topics_detached_ = true; }
  ConnectionMetrics* metrics() const noexcept { return owner_.metrics; }

  // ---- the server's memory budget (see memory_budget.hpp)
  BudgetLedger* budget_ledger() const noexcept { return owner_.budget_ledger; }
  std::size_t& budget_charged() noexcept { return budget_charged_; }  // footprint last charged
  // Index + 1 in the ledger's list of stopped sessions; 0 while not stopped.
  // (24 bits: a thread never has 16 million connections; the kernel's nr_open is 1,048,576.)
  std::uint32_t budget_slot() const noexcept { return budget_slot_; }
  void set_budget_slot(std::uint32_t slot) noexcept { budget_slot_ = slot & 0xffffff; }
  bool budget_stopped() const noexcept { return budget_slot_ != 0; }
  // Bytes held for this connection: message being assembled, output not yet sent, what the
  // carrier still holds (TLS ciphertext not yet on the socket).
  std::size_t buffered_footprint() const noexcept;
  void set_budget_stopped(bool stopped);    // pauses or resumes reading (the ledger's list aside)
  bool open_for_messages() const noexcept;  // protocol started, no close frame sent yet
  // Starts the closing handshake with 1013 and drops the transport if it has not ended within
  // `drop_after` (or close_timeout when shorter). An entry point.
  void close_over_budget(std::chrono::milliseconds drop_after);

  // Intrusive links for the owner's list of live sessions (to reach all of them at shutdown).
  Session* owner_prev = nullptr;
  Session* owner_next = nullptr;

  // ---- the carrier's side (carrier.hpp says what each means)
  void carrier_data(std::span<std::uint8_t> data);
  // A carrier that reads from a socket may read the next bytes straight into the session's
  // storage (the rest of a large message being assembled): carrier_read_destination() says
  // where (empty: nowhere), carrier_data_placed(n) that its first n bytes were filled.
  std::span<std::uint8_t> carrier_read_destination();
  void carrier_data_placed(std::size_t n);
  std::size_t carrier_read_allowance();
  std::size_t carrier_gather(std::span<io::ConstBuffer> out);
  void carrier_consume(std::size_t n);
  void carrier_drained();
  void carrier_end();
  void carrier_error(std::string_view reason);

 protected:
  // The carrier is constructed after this base: nothing here may touch carrier() until start().
  Session(const SessionConfig& config, SessionOwner& owner, std::unique_ptr<Handshake> handshake);

 private:
  friend class WebSocket;
  struct Extras;  // session_extras.hpp
  enum class Phase : std::uint8_t { handshake, idle, ping_sent, closing, lingering, done };

  // Runs at the start of every entry point (carrier calls, timeout, posted tasks); the
  // outermost one releases the session once it is done.
  class Entry {
   public:
    explicit Entry(Session& session) : session_(session) { ++session_.depth_; }
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    Session& session_;
  };

  // The Connection's events, through a relay on the stack (no interface, no pointer, here),
  // defined in dispatch.cpp beside on_event() and on_message() so that both are inlined into it:
  // a message costs one virtual call from the protocol core, not three calls.
  struct Events final : proto::EventHandler {
    explicit Events(Session& owner) noexcept : session_(owner) {}
    ~Events();  // counts the messages of the read in the metrics
    Events(const Events&) = delete;
    Events& operator=(const Events&) = delete;
    void on_event(const proto::Event& event) override;
    Session& session_;
    // The messages this read delivered and their bytes, [0] text, [1] binary: added to the
    // metrics once when the read ends, not per message (dispatch.cpp).
    std::uint64_t messages_[2] = {};
    std::uint64_t bytes_[2] = {};
  };
  void on_event(const proto::Event& event);    // any event
  void on_message(const proto::Event& event);  // a message event (the usual one)
  // The route's observer and frame handler (Extras::FrameRelay, installed when either is set).
  void on_frame(bool outgoing, const proto::FrameHeader& header,
                std::span<const std::uint8_t> payload);
  // The Connection's direct output (send_direct, through a relay on the stack).
  std::size_t write_now(std::span<const std::uint8_t> header,
                        std::span<const std::uint8_t> payload);
  Extras& extras();  // created on first use

  // Calls an application callback (dispatch.cpp). An exception it throws goes no further: the
  // connection fails with 1011 and the error hook is told. Costs nothing while nothing throws.
  template <typename Callback, typename... Args>
  void call(std::string_view name, const Callback& callback, Args&&... args) {
    try {
      callback(*this, std::forward<Args>(args)...);
    } catch (...) {
      callback_failed(name);
    }
  }
  // From inside the handler that caught it: report the exception, fail the connection (1011).
  void callback_failed(std::string_view callback) noexcept;
  // Data and ping/pong events reach the application only until the close callback (terminate(),
  // a failure, the end of the closing handshake) and never after the transport closed.
  bool delivering() const noexcept;

  // Handshake, idle, ping, close and linger deadlines, one at a time (see on_timeout()).
  io::TimeoutEntry& timeout() noexcept { return *this; }
  static void expire(io::TimeoutEntry& entry) { static_cast<Session&>(entry).on_timeout(); }
  void on_timeout();
  void receive(std::span<std::uint8_t> data);
  void receive_frames(std::span<std::uint8_t> data);  // receive() without its after_output()
  // receive(), with payloads of `data` lendable to our sends until it returns (borrowable()).
  void receive_lending(std::span<std::uint8_t> data);
  // Data from the peer keeps the connection from being idle (re-arms the idle timeout).
  void note_activity();
  bool borrowable(std::span<const std::uint8_t> data) const noexcept;
  // Inside receive_lending() (or carrier_data_placed()): its end flushes our sends. A bit, not the
  // thread's Receiving (session_output.cpp): asked on every send, it was a call.
  bool receiving_now() const noexcept { return receiving_; }
  struct Lending;  // sets receiving_ and the thread's Receiving for a read (session_output.cpp)
  void settle_borrowed();  // before the received bytes go: send, or copy, borrowed frames
  void report_drain_if_due();
  void resume_reading_if_caught_up();  // the reading pause's end: output back to half the limit
  void after_output();                 // flush, close-state bookkeeping, backpressure reading pause
  bool linger_when_over();             // the protocol is over: linger() (once); true when lingering
  bool closes_at_once() const noexcept;  // the protocol is over and needs no lingering close
  void linger();                         // the lingering close: see its definition
  void closing_started();
  void report_close(std::uint16_t code, std::string_view reason, bool clean);
  void finish();              // transport closed: release when the outermost entry returns
  void count_end() noexcept;  // metrics: the connection is no longer open, our close code
  // metrics: a send of a message (or a piece of one) and what our compressor did for it.
  void count_sent(SendStatus status, MessageKind kind, std::size_t size, bool last,
                  const proto::DeflateTotals& before) noexcept;
  // Whether `size` more bytes may be queued: the backpressure limit (on what is queued ahead of
  // them, see session_send.cpp), and for data (not control frames) the server's memory budget.
  SendStatus admit(std::size_t size, bool data = true);
  SendStatus refuse_over_backpressure();  // admit(): over the limit, as the policy says
  // The protocol started and is still open (no close frame sent or received): true for a
  // connection whose Connection was not created yet.
  bool protocol_open() const noexcept {
    return opened_ && (!connection_ || connection_.state() == proto::ConnectionState::open);
  }
  // The protocol Connection, created on first use (see connection_).
  proto::Connection& protocol() {
    if (!connection_) [[unlikely]]
      create_protocol();
    return connection_;
  }
  void create_protocol();
  proto::ConnectionOptions connection_options(const std::optional<proto::DeflateParams>& deflate);
  SendStatus sent(proto::SendResult result);
  // Bytes queued for the carrier to pull: ours (OutputQueue) and the Connection's. Inline, as
  // buffered_now(): the send path asks several times per message.
  std::size_t queued_bytes() const noexcept {
    return (output_ ? output_->bytes() : 0) + (connection_ ? connection_.buffered_amount() : 0);
  }
  // WebSocket::buffered_amount(): what is queued plus what the carrier still holds. A carrier
  // that never holds bytes of its own (plain TCP) is not asked (two virtual calls per ask).
  std::size_t buffered_now() const noexcept {
    const std::size_t queued = queued_bytes();
    return carrier_keeps_bytes_ ? queued + carrier().unsent_bytes() : queued;
  }

  // WebSocket implementation
  SendStatus send_message(std::span<const std::uint8_t> data, MessageKind kind, bool compress);
  SendStatus send_uncounted(std::span<const std::uint8_t> data, MessageKind kind, bool compress);
  SendStatus send_piece(std::span<const std::uint8_t> data, MessageKind kind, bool fin,
                        bool compress);
  SendStatus send_control(bool ping, std::span<const std::uint8_t> payload);
  SendStatus start_close(std::uint16_t code, std::string_view reason);
  std::shared_ptr<detail::HandleState> make_handle();

  const SessionConfig* config_;
  SessionOwner& owner_;
  // Created when the first frame comes in or goes out (protocol()), not at open(): most
  // connections of a busy server are quiet at any moment, and one that never sends costs only
  // this session. Empty before open(), and after it until then (opened_ tells them apart); a
  // compressing connection creates it at open() (the negotiated parameters live only there).
  proto::Connection connection_;
  // Members most connections never use are pointers, allocated on first use: an idle
  // connection's footprint is what the server holds per client.
  std::unique_ptr<Handshake> handshake_;  // until the protocol starts
  std::unique_ptr<OutputQueue> output_;   // beside the Connection's: see output_queue.hpp
  std::unique_ptr<Extras> extras_;
  std::size_t budget_charged_ = 0;
  std::uint32_t budget_slot_ : 24 = 0;
  // Bits, not bools: every byte of a session is paid per idle connection.
  bool close_reported_ : 1 = false;
  bool closed_first_ : 1 = false;     // our close frame went first (start_close)
  bool handshake_ended_ : 1 = false;  // open/reject/abort called: delete handshake_ when safe
  bool sending_fragments_ : 1 = false;
  bool saw_backpressure_ : 1 = false;  // a send returned backpressure: drain is due
  bool paused_reading_ : 1 = false;
  bool transport_closed_ : 1 = false;
  bool compressed_ : 1 = false;  // permessage-deflate negotiated
  Phase phase_ = Phase::handshake;
  std::uint8_t depth_ = 0;
  // Our compressor's negotiated window when it resets after every message, else 0.
  std::uint8_t stateless_compression_window_ = 0;
  bool opened_ : 1 = false;       // open() was called: the WebSocket protocol started
  bool client_ : 1 = false;       // our role in the protocol
  bool borrow_next_ : 1 = false;  // write_now() queues the frame by reference
  bool topics_detached_ : 1 = false;
  // The carrier may hold bytes of its own (Carrier::keeps_bytes()): set once, by SessionOn.
  bool carrier_keeps_bytes_ : 1 = true;
  bool receiving_ : 1 = false;  // see receiving_now()

  template <typename CarrierType>
  friend class SessionOn;
};

// A session and its carrier in one allocation. The carrier's constructor takes the session
// first, then `carrier_args`.
template <typename CarrierType>
class SessionOn final : public Session {
 public:
  template <typename... CarrierArgs>
  SessionOn(const SessionConfig& config, SessionOwner& owner, std::unique_ptr<Handshake> handshake,
            CarrierArgs&&... carrier_args)
      : Session(config, owner, std::move(handshake)),
        carrier_(*this, std::forward<CarrierArgs>(carrier_args)...) {
    carrier_keeps_bytes_ = carrier_.keeps_bytes();
  }

  CarrierType& carrier() noexcept override { return carrier_; }
  const CarrierType& carrier() const noexcept override { return carrier_; }
  bool carrier_write_blocked() const noexcept override { return carrier_.write_blocked(); }

  // Where the carrier lies in the session: a carrier that is only ever this member finds its
  // session from its own address (TcpCarrier), without a pointer back. offsetof on a class
  // that is not standard-layout is conditionally supported; GCC and Clang give the member's
  // real offset for a class without virtual bases, which SessionOn has not.
  static std::size_t carrier_offset() noexcept {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
    return offsetof(SessionOn, carrier_);
#pragma GCC diagnostic pop
  }

 private:
  CarrierType carrier_;
};

}  // namespace wsx::session
