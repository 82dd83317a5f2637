// permessage-deflate (RFC 7692): negotiation and the per-message compressor / decompressor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wsx/proto/http_head.hpp"

namespace wsx::proto {

constexpr std::uint8_t min_window_bits = 8;
constexpr std::uint8_t max_window_bits = 15;

// What both ends agreed on (RFC 7692 §7.1). "server_*" applies to the server's compressor and
// the client's decompressor, "client_*" the other way round.
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::uint8_t server_max_window_bits = 15;
  std::uint8_t client_max_window_bits = 15;
};

// How our own compressor runs; independent of negotiation (a compressor may always use a
// smaller window than negotiated). Defaults keep an idle compressing connection small.
struct DeflateTuning {
  int level = 6;                 // zlib level 0-9
  int mem_level = 8;             // zlib memLevel 1-9
  std::uint8_t window_bits = 15; // capped at the negotiated value
  std::size_t threshold = 0;     // messages shorter than this are sent uncompressed
};

// A server route's permessage-deflate policy.
struct DeflateServerOptions {
  // Largest window our compressor may use; answered as server_max_window_bits when below 15
  // or when the client asked for a limit.
  std::uint8_t server_max_window_bits = 15;
  // Answered when the client offers client_max_window_bits (with or without a value): the
  // window we ask the client's compressor to use, which bounds our inflater's memory.
  std::uint8_t client_max_window_bits = 15;
  bool server_no_context_takeover = false;  // we reset our compressor after each message
  bool client_no_context_takeover = false;  // we ask the client to reset after each message
  DeflateTuning tuning;
};

// A client's offer.
struct DeflateClientOptions {
  bool client_no_context_takeover = false;
  bool server_no_context_takeover = false;
  // 0: don't send the parameter; 16: send "client_max_window_bits" without a value (we can
  // compress with any window the server asks for); 8-15: send it with this value.
  std::uint8_t client_max_window_bits = 16;
  std::uint8_t server_max_window_bits = 0;  // 0: don't ask; 8-15: ask for this limit
  DeflateTuning tuning;
};

struct DeflateAgreement {
  DeflateParams params;
  std::string response;  // the extension element for the server's Sec-WebSocket-Extensions
};

// Server: the first acceptable permessage-deflate offer among `offers` (other extensions are
// ignored). Offers with unknown, duplicate or out-of-range parameters are declined, not fatal.
std::optional<DeflateAgreement> negotiate_deflate(const std::vector<ExtensionOffer>& offers,
                                                  const DeflateServerOptions& options);

// Client: the extension element to put in Sec-WebSocket-Extensions.
std::string deflate_offer(const DeflateClientOptions& options);

// Client: checks the server's answer against our offer. On failure returns nullopt and says
// why in `why` (the client must then fail the connection, RFC 7692 §5.1 / RFC 6455 §9.1).
std::optional<DeflateParams> accept_deflate_response(const ExtensionOffer& response,
                                                     const DeflateClientOptions& offered,
                                                     std::string* why);

// Compresses whole messages or fragments of one. zlib's state is allocated on first use.
class MessageDeflater {
 public:
  MessageDeflater(std::uint8_t window_bits, bool no_context_takeover, const DeflateTuning& tuning);
  ~MessageDeflater();
  MessageDeflater(const MessageDeflater&) = delete;
  MessageDeflater& operator=(const MessageDeflater&) = delete;

  // Appends the compressed form of [data, data+size) to `out`. With fin, the message ends: the
  // 00 00 ff ff tail of the sync flush is removed (RFC 7692 §7.2.1) and, without context
  // takeover, the compressor is reset.
  void compress(const std::uint8_t* data, std::size_t size, bool fin, std::vector<std::uint8_t>& out);

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::uint8_t window_bits_;
  bool no_context_takeover_;
  DeflateTuning tuning_;
};

enum class InflateResult : std::uint8_t { ok, too_big, corrupt };

// Decompresses the payloads of compressed messages, fragment by fragment.
class MessageInflater {
 public:
  MessageInflater(std::uint8_t window_bits, bool no_context_takeover);
  ~MessageInflater();
  MessageInflater(const MessageInflater&) = delete;
  MessageInflater& operator=(const MessageInflater&) = delete;

  // Appends the inflated bytes of one fragment's payload to `out`; with fin, appends the
  // 00 00 ff ff tail first and ends the message. Stops with too_big as soon as this message's
  // output would exceed `max_message_size` (never allocating much beyond it), and with corrupt
  // on invalid data.
  InflateResult inflate(const std::uint8_t* data, std::size_t size, bool fin,
                        std::vector<std::uint8_t>& out, std::size_t max_message_size);

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::uint8_t window_bits_;
  bool no_context_takeover_;
  std::size_t message_output_ = 0;
};

}  // namespace wsx::proto
