// A session's output besides what the protocol Connection holds: the HTTP bytes of the opening
// handshake (before any frame), frames shared with other connections (publish), and our own
// frames whose payload is borrowed from the bytes being received (a zero-copy echo).
//
// The carrier pulls everything in one stream (gather/consume): the handshake bytes first, then
// the Connection's output and the queued frames interleaved in the order they were queued —
// each queued frame follows the Connection bytes that existed when it was queued.
//
// Allocated by the session on first use: an idle connection that never published holds none.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "session/layer_export.hpp"
#include "wsx/io/tcp_socket.hpp"
#include "wsx/proto/connection.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::session {

struct SharedFrame;

class WSX_LAYER_API OutputQueue {
 public:
  // The handshake's HTTP bytes, sent before anything else.
  void append_raw(std::string_view bytes) { raw_.append(bytes); }
  // A frame built once for many connections, after the `connection_buffered` bytes the
  // Connection holds now.
  void push_shared(std::shared_ptr<const SharedFrame> frame, std::size_t connection_buffered);
  // One of our frames whose payload lies in the bytes being received: referenced, not copied,
  // until copy_borrowed().
  void push_borrowed(std::span<const std::uint8_t> header, std::span<const std::uint8_t> payload,
                     std::size_t connection_buffered);
  // One of our frames whose payload lies in `storage` (the received message it echoes, handed
  // over by the Connection): queued with the storage instead of a copy, after the first
  // `written` bytes of header + payload that already left. The storage is recycled once sent.
  void push_owned(std::span<const std::uint8_t> header, std::span<const std::uint8_t> payload,
                  std::size_t written, std::vector<std::uint8_t> storage,
                  std::size_t connection_buffered);
  bool has_borrowed() const noexcept;
  // The received bytes are about to be reused: what is left of borrowed frames is copied.
  void copy_borrowed();

  // Bytes queued here (not counting the Connection's).
  std::size_t bytes() const noexcept { return raw_.size() + frame_bytes_; }
  // Nothing queued and no frame ever was: the owner may free the queue (handshake bytes only).
  bool disposable() const noexcept { return raw_.empty() && frames_.capacity() == 0; }

  // The next buffers to send, in order: see the top of this file. `connection` is null before
  // the protocol started and while the session has not created it (no output of its own).
  // Returns how many buffers were filled.
  std::size_t gather(const proto::Connection* connection, std::span<io::ConstBuffer> out) const;
  // The first `n` gathered bytes left; what belongs to `connection` is consumed there.
  void consume(proto::Connection* connection, std::size_t n);

 private:
  struct QueuedFrame {
    std::shared_ptr<const SharedFrame> frame;  // null for a borrowed frame
    std::uint64_t after = 0;  // position in the Connection's output stream it must follow
    // A borrowed frame: its header is kept here, its payload referenced until copy_borrowed().
    std::array<std::uint8_t, proto::max_frame_header_size> header{};
    std::uint8_t header_size = 0;
    std::span<const std::uint8_t> payload;
    std::vector<std::uint8_t> owned;  // push_owned(): the storage `payload` lies in

    bool borrowed() const noexcept { return !frame && owned.empty(); }

    std::size_t size() const noexcept;
    // The part left after `offset` bytes, as at most two buffers; returns how many.
    std::size_t buffers(std::size_t offset, io::ConstBuffer* out, std::size_t room) const;
  };

  std::string raw_;
  std::vector<QueuedFrame> frames_;
  std::size_t head_ = 0;         // first entry of frames_ not yet fully sent
  std::size_t offset_ = 0;       // bytes of that entry already sent
  std::size_t frame_bytes_ = 0;  // bytes of frames not yet sent
  std::uint64_t consumed_ = 0;   // Connection output bytes consumed since this queue's creation
};

}  // namespace wsx::session
