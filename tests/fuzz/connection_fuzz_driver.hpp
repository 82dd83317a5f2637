// Shared driver of the connection_server and connection_client fuzz targets.
//
// Input layout:
//   byte 0: options — bit 0 deflate, bit 1 deliver_fragments, bit 2 small limits (max message
//           1 KiB, 8 fragments), bit 3 auto_pong off, bit 4 server_no_context_takeover,
//           bit 5 client_no_context_takeover, bit 6 deflate threshold 64
//   byte 1: window bits — low 3 bits: server_max_window_bits - 8, next 3: client_max_window_bits -
//   8 then a sequence of steps, each starting with a selector byte s:
//     s < 0x80:          receive the next s + 1 bytes
//     0x80 <= s < 0xF0:  receive the next (s - 0x7F) * 64 bytes, as a transport that reads into
//                        direct_receive_buffer() does: its first bytes there (receive_direct),
//                        the rest with receive()
//     s == 0xF8:         hand the next byte * 7 bytes of output to the peer (a partial write)
//     s >= 0xF0:         call a send API (s & 0x0F picks which) with arguments from the next bytes
//
// Checked on every run: events are coherent (text is valid UTF-8, fragments come first..last,
// close and error codes are legal, nothing follows a close or an error), and everything the
// connection writes is a valid frame stream for a peer of the other role with the same
// parameters.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "wsx/proto/close.hpp"
#include "wsx/proto/connection.hpp"
#include "wsx/proto/utf8.hpp"

namespace wsx::proto::fuzz {

inline void require(bool condition) {
  if (!condition) std::abort();
}

class CheckingHandler : public EventHandler {
 public:
  void on_event(const Event& event) override {
    require(!ended);
    require(event.data.empty() || event.data.data() != nullptr);
    switch (event.kind) {
      case EventKind::message:
        require(!in_fragmented_message);
        if (event.message_kind == MessageKind::text) {
          require(is_valid_utf8(event.data.data(), event.data.size()));
        }
        break;
      case EventKind::fragment:
        require(event.first == !in_fragmented_message);
        if (event.first) text = event.message_kind == MessageKind::text, utf8.reset();
        if (text) require(utf8.feed(event.data.data(), event.data.size()));
        in_fragmented_message = !event.last;
        if (event.last && text) require(utf8.complete());
        break;
      case EventKind::ping:
      case EventKind::pong:
        require(event.data.size() <= max_control_payload);
        break;
      case EventKind::close:
        require(event.close_code == 1005 || is_valid_received_close_code(event.close_code));
        require(is_valid_utf8(event.close_reason));
        ended = true;
        break;
      case EventKind::error:
        require(event.error != ProtocolError::none);
        require(event.close_code == static_cast<std::uint16_t>(close_code_for(event.error)));
        ended = true;
        break;
    }
  }

  bool ended = false;

 private:
  bool in_fragmented_message = false;
  bool text = false;
  Utf8Validator utf8;
};

// The peer only has to parse what we wrote: it must never find a broken rule in it.
class PeerHandler : public EventHandler {
 public:
  void on_event(const Event& event) override {
    if (event.kind != EventKind::error) return;
    std::fprintf(stderr, "the peer rejected our output: %.*s\n",
                 static_cast<int>(describe(event.error).size()), describe(event.error).data());
    std::abort();
  }
};

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  std::uint8_t byte() { return empty() ? 0 : data_[pos_++]; }
  std::vector<std::uint8_t> bytes(std::size_t n) {
    n = std::min(n, size_ - pos_);
    std::vector<std::uint8_t> out(data_ + pos_, data_ + pos_ + n);
    pos_ += n;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Text we send must be UTF-8 (the peer checks it): clear the high bits.
inline std::vector<std::uint8_t> ascii_bytes(std::vector<std::uint8_t> bytes) {
  for (std::uint8_t& b : bytes) b &= 0x7F;
  return bytes;
}

inline std::string ascii(const std::vector<std::uint8_t>& bytes) {
  const auto clean = ascii_bytes(bytes);
  return std::string(clean.begin(), clean.end());
}

inline void call_send_api(Connection& connection, std::uint8_t which, Input& input) {
  const std::size_t size = input.byte();
  const std::vector<std::uint8_t> payload = input.bytes(which == 0x5 ? size * 64 : size);
  const SendFlags flags{.compress = (size & 1) == 0};
  switch (which) {
    case 0x0:
      connection.send_text(ascii(payload), flags);
      break;
    case 0x1:
    case 0x5:
      connection.send_binary(payload, flags);
      break;
    case 0x2:
      connection.send_fragment(MessageKind::text, ascii_bytes(payload), false, flags);
      break;
    case 0x3:
      // Pieces are ASCII: this may continue a text message.
      connection.send_fragment(MessageKind::binary, ascii_bytes(payload), true, flags);
      break;
    case 0x4:
      connection.ping(payload);
      break;
    case 0x6:
      connection.pong(payload);
      break;
    case 0x7: {
      const auto code = static_cast<std::uint16_t>(size * 37 + 990);
      connection.close(code, ascii(payload));
      break;
    }
    default:
      connection.send_text(std::string(size, 'x'), flags);
      break;
  }
}

inline int run_connection_fuzz(Role role, const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  Input input(data, size);
  const std::uint8_t option_bits = input.byte();
  const std::uint8_t window_bits = input.byte();

  ConnectionOptions options;
  options.role = role;
  options.deliver_fragments = option_bits & 0x02;
  if (option_bits & 0x04) {
    options.max_message_size = 1024;
    options.free_fragments = 8;  // small, so the fragmentation policy is reached
  } else {
    options.max_message_size = 256 * 1024;
  }
  options.auto_pong = (option_bits & 0x08) == 0;
  if (option_bits & 0x01) {
    DeflateParams params;
    params.server_no_context_takeover = option_bits & 0x10;
    params.client_no_context_takeover = option_bits & 0x20;
    params.server_max_window_bits = static_cast<std::uint8_t>(8 + (window_bits & 7));
    params.client_max_window_bits = static_cast<std::uint8_t>(8 + ((window_bits >> 3) & 7));
    options.deflate = params;
    if (option_bits & 0x40) options.deflate_tuning.threshold = 64;
  }

  ConnectionOptions peer_options = options;
  peer_options.role = role == Role::server ? Role::client : Role::server;
  peer_options.max_message_size = 64 * 1024 * 1024;
  peer_options.free_fragments = 1 << 20;
  peer_options.deliver_fragments = true;  // no need to hold whole messages

  Connection connection(options);
  Connection peer(peer_options);
  CheckingHandler handler;
  PeerHandler peer_handler;
  std::vector<std::uint8_t> written;

  // Everything written goes to the peer, in whatever pieces the transport takes it.
  const auto forward_output = [&](std::size_t limit) {
    const auto out = connection.pending_output();
    written.assign(out.begin(),
                   out.begin() + static_cast<std::ptrdiff_t>(std::min(limit, out.size())));
    connection.consume_output(written.size());
    if (!written.empty()) peer.receive(written, peer_handler);
  };

  while (!input.empty()) {
    const std::uint8_t selector = input.byte();
    if (selector == 0xF8) {
      forward_output(input.byte() * 7u);  // a partial write
    } else if (selector >= 0xF0) {
      call_send_api(connection, selector & 0x0F, input);
    } else {
      const std::size_t n = selector < 0x80 ? selector + 1u : (selector - 0x7Fu) * 64u;
      std::vector<std::uint8_t> chunk = input.bytes(n);
      std::size_t placed = 0;
      if (selector >= 0x80) {
        const std::span<std::uint8_t> room = connection.direct_receive_buffer();
        placed = std::min(room.size(), chunk.size());
        if (placed > 0) {
          std::memcpy(room.data(), chunk.data(), placed);
          connection.receive_direct(placed, handler);
        }
      }
      if (placed < chunk.size()) {
        connection.receive(std::span<std::uint8_t>(chunk).subspan(placed), handler);
      }
      const bool stopped = connection.state() == ConnectionState::closed ||
                           connection.state() == ConnectionState::failed;
      require(!stopped || handler.ended);
    }
    require(connection.buffered_amount() == connection.pending_output().size());
    if ((selector & 0x3) == 0) forward_output(SIZE_MAX);
  }
  forward_output(SIZE_MAX);
  require(connection.buffered_amount() == 0);
  require(connection.finished() == (connection.state() == ConnectionState::closed ||
                                    connection.state() == ConnectionState::failed));
  return 0;
}

}  // namespace wsx::proto::fuzz
