// One HTTP/2 connection (RFC 9113), server or client side, as a byte transform, like
// proto::Connection: bytes from the peer go in (receive), requests (server) or responses
// (client) and stream events come out to an H2Handler, answers and requests go in as calls,
// and the bytes to send are pulled (output / consume_output). It does no I/O and reads no clock
// of its own, so tests drive it against nghttp2's own session in memory and a fuzzer feeds it
// directly. The server (H2ServerConnection) and the client's connection pool both drive it.
//
// nghttp2 does the framing, HPACK, flow-control arithmetic and the HTTP/2 messaging rules
// (pseudo-headers, connection-specific fields: a stream that breaks them is reset before it
// reaches us). This class adds what wsx needs on top: the request (or response) as a
// proto::HttpHead (the same structure an HTTP/1.1 head parses into, so routing and the
// handshake checks are shared), RFC 8441's SETTINGS_ENABLE_CONNECT_PROTOCOL, the limits of
// H2Limits, and flow control by hand: the window of a stream reopens only when its consumer says it
// processed the bytes (consume), so a slow WebSocket slows its sender instead of filling our
// memory. A consumer that keeps a stream's bytes in a buffer of its own (bounded by the stream's
// window, and counted in the server's memory budget) reopens the connection's window at once
// (consume_connection) and the stream's once it processed them (consume_stream): paused streams
// then cannot use up the connection window that their neighbours need (RFC 9113 §5.2.2, §6.9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "session/layer_export.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"

struct nghttp2_session;

namespace wsx::h2 {

enum class H2Role : std::uint8_t { server, client };

// HTTP/2 error codes (RFC 9113 §7) used by name.
enum class H2Error : std::uint32_t {
  no_error = 0x0,
  protocol_error = 0x1,
  internal_error = 0x2,
  refused_stream = 0x7,
  cancel = 0x8,
  enhance_your_calm = 0xb,
};

// Every limit is one a peer could otherwise push (a client applies them to the server's
// responses; max_concurrent_streams and enable_connect_protocol are the server's only): the
// defaults follow nghttp2's own advice (nghttpx's values) where it has one.
struct WSX_LAYER_API H2Limits {
  std::uint32_t max_concurrent_streams = 100;  // more: RST_STREAM(REFUSED_STREAM)
  // Header block of one request, counted as RFC 9113 §6.5.2 does (name + value + 32 per field);
  // more: 431. Announced as SETTINGS_MAX_HEADER_LIST_SIZE.
  std::uint32_t max_header_list_size = 16 * 1024;
  // Bytes a peer may send on one stream (and on the connection) before we consumed them. What
  // streams hold unread is bounded by stream_window each (so by max_concurrent_streams ×
  // stream_window per connection, and by the server's memory budget): the connection window
  // reopens for bytes a stream holds, so that paused streams do not starve the others.
  std::uint32_t stream_window = 256 * 1024;
  std::uint32_t connection_window = 1024 * 1024;
  // CONTINUATION frames after one HEADERS (CVE-2024-28182); more ends the connection.
  std::size_t max_continuations = 8;
  // RST_STREAMs from the peer: a token bucket (rapid reset, CVE-2023-44487); empty bucket:
  // nghttp2 ends the connection with GOAWAY(INTERNAL_ERROR), as the rapid-reset test checks.
  std::uint64_t reset_burst = 1000;
  std::uint64_t resets_per_second = 33;
  // SETTINGS and PING ACKs queued but not yet sent (a flood of SETTINGS or PING from a peer
  // that does not read); more ends the connection. And SETTINGS entries per frame.
  std::size_t max_outbound_ack = 1000;
  std::size_t max_settings = 32;
  // Fields of a request (pseudo-headers included); more: 431.
  std::size_t max_headers = 64;
  // SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3): WebSockets may open as streams.
  bool enable_connect_protocol = true;
};

// A request whose header block is complete. `head` is what an HTTP/1.1 request parses into:
// method, target (:path), version 2.0, the fields with :authority as "host" (RFC 9113 §8.3.1)
// and several cookie fields joined into one (§8.2.3), and protocol (RFC 8441's :protocol).
// Its views point into storage owned by the connection, valid until the stream closes.
struct WSX_LAYER_API H2Request {
  std::int32_t stream_id = 0;
  proto::HttpHead head;
  std::string_view scheme;  // :scheme, empty for a plain CONNECT
  bool end_stream = false;  // no body follows
};

// The client's view of a response whose header block is complete: `head` has the status
// (:status), version 2.0 and the fields; its views live until the stream closes.
struct WSX_LAYER_API H2Response {
  std::int32_t stream_id = 0;
  proto::HttpHead head;
  bool end_stream = false;  // no body follows
};

class WSX_LAYER_API H2Handler {
 public:
  // Server: a complete, valid request. Answer it now or later with respond()/
  // respond_streaming() (or reset()).
  virtual void on_request(H2Request& request) { (void)request; }
  // Client: the response to a request of submit_request(); its DATA follows.
  virtual void on_response(H2Response& response) { (void)response; }
  // DATA of a stream (its request body, or a WebSocket's bytes). The window of the stream
  // reopens only by consume(): call it once the bytes are processed (at once if dropped).
  virtual void on_data(std::int32_t stream_id, std::span<const std::uint8_t> data) = 0;
  // The peer ended its side of the stream (END_STREAM).
  virtual void on_remote_end(std::int32_t stream_id) { (void)stream_id; }
  // The stream is closed (both sides ended, or RST_STREAM either way): `error` is the code of
  // a reset, no_error otherwise. No event of this stream follows. A client's stream the server
  // never processed (above a GOAWAY's last stream id, or whose HEADERS could not leave once a
  // GOAWAY came) closes with refused_stream: it is safe to send again on another connection.
  virtual void on_stream_closed(std::int32_t stream_id, std::uint32_t error) = 0;
  // The peer may have opened our send windows (WINDOW_UPDATE, or SETTINGS changing the initial
  // window): output that waited for them can go on (see send_window()).
  virtual void on_send_window_update() {}
  // The peer's SETTINGS arrived (the first: a client now knows whether extended CONNECT is
  // allowed, see peer_allows_extended_connect()).
  virtual void on_settings() {}
  // The peer sent GOAWAY: streams above `last_stream_id` were not processed; no new stream
  // may open on this connection.
  virtual void on_goaway(std::int32_t last_stream_id, std::uint32_t error) {
    (void)last_stream_id;
    (void)error;
  }

 protected:
  ~H2Handler() = default;
};

// The body of a streaming response, pulled as the peer's flow-control window allows.
class WSX_LAYER_API H2Source {
 public:
  struct Chunk {
    std::size_t size = 0;  // bytes written into the buffer
    bool end = false;      // the body is complete (END_STREAM goes with this chunk)
  };
  // Up to buffer.size() bytes. Nothing and no end: nothing now; call resume() when there is.
  virtual Chunk read(std::span<std::uint8_t> buffer) = 0;

 protected:
  ~H2Source() = default;
};

class WSX_LAYER_API H2Connection {
 public:
  H2Connection(H2Handler& handler, const H2Limits& limits, H2Role role = H2Role::server);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Bytes from the peer (the client preface first, for a server). False once the connection is
  // over: a connection error (GOAWAY is queued: send output() before closing) or an earlier
  // failure.
  bool receive(std::span<const std::uint8_t> data);
  // The next bytes to send, empty when there are none; valid until the next non-const call.
  std::span<const std::uint8_t> output();
  void consume_output(std::size_t n);
  // Inside output(): nghttp2 is packing frames and calls the streams' sources (H2Source::read).
  bool producing_output() const noexcept { return producing_output_; }
  // Nothing more to read or write: close the transport (after a GOAWAY was sent, or both
  // sides are done).
  bool finished() const;
  // Why receive() failed, for logs: nghttp2's error text. Empty while fine.
  const std::string& error() const noexcept { return error_; }
  // nghttp2's last complaint about the peer, also for errors that cost only a stream.
  const std::string& peer_error() const noexcept { return last_peer_error_; }

  // A whole response. Headers unsafe in HTTP/2 (connection-specific fields, names that are not
  // lower-case tokens, values with CR/LF/NUL) are dropped, like serialize() does for HTTP/1.1.
  // `head_only`: the body's length is announced but the body is not sent (HEAD).
  void respond(std::int32_t stream_id, const proto::HttpResponse& response, bool head_only = false);
  // Status and headers now, the body from `source` as it comes (a WebSocket after its 200).
  // The source must stay valid until the stream closes or it returned end.
  void respond_streaming(std::int32_t stream_id, int status, const proto::HeaderList& headers,
                         H2Source& source);
  // The source of `stream_id` has more to read.
  void resume(std::int32_t stream_id);
  // The source of `stream_id` is going away: nothing reads it any more, and the stream, if
  // still open, is reset (CANCEL).
  void forget_source(std::int32_t stream_id);
  // `n` bytes of the stream's DATA were processed: the peer may send that much more.
  void consume(std::int32_t stream_id, std::size_t n);
  // The two halves of consume(): `n` bytes of DATA were moved into a buffer of the stream's
  // consumer (bounded by the stream's window): the connection's window reopens now, the
  // stream's by consume_stream() once the bytes are processed (or dropped).
  void consume_connection(std::size_t n);
  void consume_stream(std::int32_t stream_id, std::size_t n);
  // RST_STREAM: the stream ends at once (on_stream_closed follows).
  void reset(std::int32_t stream_id, H2Error error);
  // GOAWAY(NO_ERROR): no new streams; those open go on until they end.
  void shutdown();
  // GOAWAY with `error`, then finished(): for a transport about to close.
  void terminate(H2Error error);

  // ---- client
  // Opens a stream with a request: `fields` in order, pseudo-headers first (names in lower
  // case); its body is pulled from `source` (which must stay valid until the stream closes or
  // forget_source()). Returns the stream id, or a negative value when no stream can open
  // (GOAWAY received, stream ids exhausted, a connection error).
  std::int32_t submit_request(const proto::HeaderList& fields, H2Source& source);
  // The peer's first SETTINGS frame arrived.
  bool peer_settings_received() const noexcept { return settings_received_; }
  // SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 from the peer (RFC 8441 §3).
  bool peer_allows_extended_connect() const;
  // Streams the peer lets us open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
  std::uint32_t peer_max_concurrent_streams() const;
  // The peer sent GOAWAY.
  bool peer_going_away() const noexcept { return goaway_received_; }

  std::size_t open_streams() const noexcept { return open_streams_; }
  // The peer's window for our DATA on `stream_id` (how much it lets us send now).
  std::int32_t send_window(std::int32_t stream_id) const;
  nghttp2_session* native_handle() const noexcept { return session_; }

  struct Stream;  // per-stream state (h2_connection.cpp)

 private:
  struct Callbacks;
  void fail(const char* what, int code);
  // The header block of `stream` is complete: build its request (or response) and hand it
  // over (or 431).
  void deliver(Stream& stream, bool end_stream);
  void deliver_response(Stream& stream, bool end_stream);

  H2Handler& handler_;
  H2Limits limits_;
  H2Role role_;
  nghttp2_session* session_ = nullptr;
  const std::uint8_t* out_data_ = nullptr;  // the chunk mem_send handed out
  std::size_t out_size_ = 0;
  std::size_t out_offset_ = 0;
  bool producing_output_ = false;  // in nghttp2_session_mem_send()
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::size_t open_streams_ = 0;
  std::string error_;
  std::string last_peer_error_;  // nghttp2's last complaint about the peer
  bool failed_ = false;
  bool settings_received_ = false;
  bool goaway_received_ = false;
};

}  // namespace wsx::h2
