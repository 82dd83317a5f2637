// permessage-deflate (RFC 7692): negotiation and the per-message compressor / decompressor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wsx/export.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::proto {

namespace detail {
struct InflaterInternals;  // src/proto/inflater_internals.hpp, for tests
}

constexpr std::uint8_t min_window_bits = 8;
constexpr std::uint8_t max_window_bits = 15;

// The window sizes RFC 7692 §7.1.2 allows: the one place that says so.
constexpr bool is_valid_window_bits(int bits) noexcept {
  return bits >= min_window_bits && bits <= max_window_bits;
}
// Throws std::invalid_argument ("permessage-deflate window bits must be 8-15") unless valid:
// the check of every constructor that takes a window (MessageDeflater, MessageInflater, and
// Connection, which creates them lazily and so must fail before any byte flows).
WSX_API void check_window_bits(std::uint8_t window_bits);

// What both ends agreed on (RFC 7692 §7.1). "server_*" applies to the server's compressor and
// the client's decompressor, "client_*" the other way round.
struct WSX_API DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::uint8_t server_max_window_bits = 15;
  std::uint8_t client_max_window_bits = 15;
};

// How our own compressor runs; independent of negotiation (a compressor may always use a
// smaller window than negotiated). Between messages a connection holds only its window
// (2^window_bits bytes); zlib's stream (about 2^(window+2) + 2^(mem_level+9) bytes plus ~6 KiB)
// is the thread's, lent for one message at a time, so mem_level costs nothing per connection.
// Which DEFLATE implementation compresses, and whether libdeflate may inflate.
enum class DeflateEngine : std::uint8_t {
  // Intel ISA-L's igzip where wsx was built with it (libisal), zlib otherwise. igzip's levels
  // are 1-3: zlib levels 1-2 map to 1, 3-5 to 2, 6-9 to 3; level 0 (stored blocks) is zlib's.
  // A message that arrives in one frame is inflated by libdeflate where wsx was built with it
  // (while the kept window plus the message's output fit in 32 KiB; zlib has the last word on
  // anything it cannot finish), the rest by zlib. Every stream zlib reads libdeflate reads the
  // same; of the invalid ones, libdeflate still reads a few that zlib refuses (1002): Huffman
  // code descriptions zlib calls invalid (incomplete codes, more than 286 literal/length or 30
  // distance codes announced) and the literal/length symbols 286 and 287 (a match of 258). See
  // docs/05-deflate-memory.md.
  automatic,
  zlib,  // zlib only, both ways
};

struct WSX_API DeflateTuning {
  int level = 6;      // zlib level 0-9
  int mem_level = 4;  // zlib memLevel 1-9
  // Capped at the negotiated value. 13 (8 KiB kept per connection once 8 KiB went through):
  // igzip compresses 1 KiB JSON echoes 3.44:1 with 11, 3.52:1 with 13 (zlib 3.58 / 4.06).
  std::uint8_t window_bits = 13;
  // Beside window_bits, in what would be padding: a connection's options do not grow.
  DeflateEngine engine = DeflateEngine::automatic;
  std::size_t threshold = 0;  // messages shorter than this are sent uncompressed
};

// A server route's permessage-deflate policy.
struct WSX_API DeflateServerOptions {
  // Largest window our compressor may use; answered as server_max_window_bits when below 15
  // or when the client asked for a limit.
  std::uint8_t server_max_window_bits = 15;
  // Answered when the client offers client_max_window_bits (with or without a value, as
  // browsers do): the window we ask the client's compressor to use, which bounds our
  // inflater's memory (2^bits plus ~7 KiB of zlib state).
  std::uint8_t client_max_window_bits = 11;
  bool server_no_context_takeover = false;  // we reset our compressor after each message
  bool client_no_context_takeover = false;  // we ask the client to reset after each message
  DeflateTuning tuning;
};

// A client's offer.
struct WSX_API DeflateClientOptions {
  bool client_no_context_takeover = false;
  bool server_no_context_takeover = false;
  // 0: don't send the parameter; 16: send "client_max_window_bits" without a value (we can
  // compress with any window the server asks for); 8-15: send it with this value.
  std::uint8_t client_max_window_bits = 16;
  std::uint8_t server_max_window_bits = 0;  // 0: don't ask; 8-15: ask for this limit
  DeflateTuning tuning;
};

struct WSX_API DeflateAgreement {
  DeflateParams params;
  std::string response;  // the extension element for the server's Sec-WebSocket-Extensions
};

// Server: the first acceptable permessage-deflate offer among `offers` (other extensions are
// ignored). Offers with unknown, duplicate or out-of-range parameters are declined, not fatal.
WSX_API std::optional<DeflateAgreement> negotiate_deflate(const std::vector<ExtensionOffer>& offers,
                                                          const DeflateServerOptions& options);

// Client: the extension element to put in Sec-WebSocket-Extensions.
WSX_API std::string deflate_offer(const DeflateClientOptions& options);

// Client: checks the server's answer against our offer. On failure returns nullopt and says
// why in `why` (the client must then fail the connection, RFC 7692 §5.1 / RFC 6455 §9.1).
WSX_API std::optional<DeflateParams> accept_deflate_response(const ExtensionOffer& response,
                                                             const DeflateClientOptions& offered,
                                                             std::string* why);

// Compresses whole messages or fragments of one. Nothing is allocated before the first
// compressed message. A zlib stream is leased from the calling thread for the span of a message
// (from its first non-empty fragment to its last) and given back at its end; with context
// takeover the deflater then keeps a copy of its window (2^window bytes, primed into the next
// stream it leases, unless that is the stream it gave back, untouched since: then it goes on with
// it), without it nothing at all.
//
// `window_bits` (8-15) is the negotiated limit for our compressor: server_max_window_bits for a
// server, client_max_window_bits for a client. The window used is that limit capped by
// tuning.window_bits. Window 8: zlib cannot deflate with a 256-byte window (it silently uses 512,
// whose distances a peer with an 8-bit window cannot resolve). So when the negotiated limit is 8
// the deflater emits only stored (uncompressed) DEFLATE blocks: always valid, never smaller than
// the input. Negotiation should therefore avoid agreeing to 8 for our compressor. When only the
// tuning asks for 8 (the peer allows more) the deflater uses 9.
// Throws std::invalid_argument for a window outside 8-15, a level outside 0-9 or a memLevel
// outside 1-9; tuning.threshold is the caller's business (it decides which messages to compress).
class WSX_API MessageDeflater {
 public:
  MessageDeflater(std::uint8_t window_bits, bool no_context_takeover, const DeflateTuning& tuning);
  ~MessageDeflater();
  MessageDeflater(const MessageDeflater&) = delete;
  MessageDeflater& operator=(const MessageDeflater&) = delete;

  // Appends the compressed form of [data, data+size) to `out`. Every call ends with a sync flush,
  // so each fragment can be sent at once. With fin, the message ends: the 00 00 ff ff tail of the
  // sync flush is removed (RFC 7692 §7.2.1) and, without context takeover, the compressor is
  // reset. An empty final call appends the single octet 0x00 (RFC 7692 §7.2.3.6), so an empty
  // message compresses to 00. An empty non-final call appends nothing.
  void compress(const std::uint8_t* data, std::size_t size, bool fin,
                std::vector<std::uint8_t>& out);

  // True while the deflater holds memory: a window kept between messages (context takeover) or
  // a zlib stream during a message.
  bool allocated() const noexcept { return state_ != nullptr; }
  // True during a message (between a non-empty compress without fin and the final one).
  bool holds_stream() const noexcept;
  // Bytes this deflater holds: 0 before first use and, without context takeover, between
  // messages; 2^window plus a few dozen between messages with it.
  std::size_t memory_in_use() const noexcept;

 private:
  struct State;
  void end_message();
  void compress_zlib(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out);
  void compress_isal(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out);
  std::unique_ptr<State> state_;
  std::uint8_t window_bits_;
  bool no_context_takeover_;
  bool use_isal_ = false;
  DeflateTuning tuning_;
};

enum class InflateResult : std::uint8_t {
  ok,
  too_big,
  corrupt,
  stopped,  // an InflateSink asked to stop (see inflate() with a sink)
};

// Takes inflated output piece by piece, so that one fragment inflating to gigabytes (a message
// streamed to disk, or a compression bomb under a raised limit) never sits in memory whole.
class WSX_API InflateSink {
 public:
  // `piece` is valid during the call only. Return false to stop: the rest of the input is
  // dropped and the inflater is done (the caller is failing the connection).
  virtual bool on_inflated(std::span<const std::uint8_t> piece) = 0;

 protected:
  ~InflateSink() = default;
};

// Decompresses the payloads of compressed messages, fragment by fragment. `window_bits` (8-15)
// is the PEER's negotiated window (server_max_window_bits for a client, client_max_window_bits
// for a server); `no_context_takeover` is the peer's. Like MessageDeflater, it leases a zlib
// stream from the calling thread for each message and keeps only the peer's window (2^window
// bytes, with context takeover) between messages; everything is freed as soon as it fails. With
// DeflateEngine::automatic a message that comes whole (one call with fin) is inflated with
// libdeflate where wsx was built with it, with the same result for every valid stream (the few
// invalid ones it reads: DeflateEngine::automatic).
// Throws std::invalid_argument for a window outside 8-15.
class WSX_API MessageInflater {
 public:
  MessageInflater(std::uint8_t window_bits, bool no_context_takeover,
                  DeflateEngine engine = DeflateEngine::automatic);
  ~MessageInflater();
  MessageInflater(const MessageInflater&) = delete;
  MessageInflater& operator=(const MessageInflater&) = delete;

  // Appends the inflated bytes of one fragment's payload to `out`; with fin, appends the
  // 00 00 ff ff tail first (RFC 7692 §7.2.2) and ends the message. Returns
  // - too_big as soon as this message's output would exceed `max_message_size`: `out` then holds
  //   at most max_message_size + 1 bytes of this message and never grew by more than that;
  // - corrupt on invalid DEFLATE data, or when the message (tail included) does not end on a
  //   DEFLATE block boundary, i.e. the sender did not end it as RFC 7692 §7.2.1 requires.
  // DEFLATE blocks with BFINAL set are accepted anywhere (RFC 7692 §7.2.1): decoding continues
  // with the next block and the LZ77 window is kept. A message whose payload is empty in every
  // fragment is taken as an empty message (some senders produce that instead of the single 00
  // of RFC 7692 §7.2.3.6; appending the tail to nothing would be an unfinished block). Both
  // failures are final: zlib's state is freed and every later call returns the same result (the
  // connection must fail: 1009 for too_big, 1002 for corrupt).
  InflateResult inflate(const std::uint8_t* data, std::size_t size, bool fin,
                        std::vector<std::uint8_t>& out, std::size_t max_message_size);
  // The same, but whenever `out` holds max_output_step bytes or more they are handed to `sink`
  // (with any bytes `out` held before the call) and removed from `out`, its capacity kept: `out`
  // stays within about 2 * max_output_step however much the input inflates to. Bytes left in
  // `out` at return were not handed to the sink. A sink that returns false ends the call with
  // `stopped`, which is final like a failure.
  InflateResult inflate(const std::uint8_t* data, std::size_t size, bool fin,
                        std::vector<std::uint8_t>& out, std::size_t max_message_size,
                        InflateSink& sink);

  // True while the inflater holds memory: the peer's window between messages (context
  // takeover) or a zlib stream during a message; false after a failure.
  bool allocated() const noexcept { return state_ != nullptr; }
  // True during a message (from its first non-empty fragment to its last).
  bool holds_stream() const noexcept;
  // Bytes this inflater holds: 2^window plus a few dozen between messages with context
  // takeover, 0 without; during a message also the stream's (about 2^window + 7 KiB).
  std::size_t memory_in_use() const noexcept;
  // The failure that ended this inflater, or ok.
  InflateResult failure() const noexcept { return failure_; }

  // Output grows in steps of at most this many bytes (capped by the message limit).
  static constexpr std::size_t max_output_step = 64 * 1024;

 private:
  friend struct detail::InflaterInternals;
  struct State;
  InflateResult inflate_into(const std::uint8_t* data, std::size_t size, bool fin,
                             std::vector<std::uint8_t>& out, std::size_t max_message_size,
                             InflateSink* sink);
  InflateResult feed(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out,
                     std::size_t max_message_size, InflateSink* sink);
  void end_message(std::size_t message_output);
  bool inflate_whole(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out,
                     std::size_t max_message_size);

  std::unique_ptr<State> state_;
  std::uint8_t window_bits_;
  bool no_context_takeover_;
  bool use_whole_message_path_ = false;
  // Messages inflated whole with libdeflate, modulo 65536 (for tests: InflaterInternals). A
  // member, not a thread_local: in the shared library that costs a __tls_get_addr per message.
  std::uint16_t whole_messages_ = 0;
  std::size_t message_output_ = 0;
  bool message_has_input_ = false;
  InflateResult failure_ = InflateResult::ok;
};

}  // namespace wsx::proto
