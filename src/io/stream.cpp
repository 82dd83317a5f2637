#include "wsx/io/stream.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>

namespace wsx::io {
namespace {

// One read buffer per thread, lent to whichever stream is reading: idle connections own none.
std::span<std::uint8_t> read_buffer() {
  thread_local std::unique_ptr<std::uint8_t[]> buffer;
  // Not zeroed: only the pages reads reach become resident.
  if (!buffer) buffer = std::make_unique_for_overwrite<std::uint8_t[]>(Stream::read_buffer_size);
  return {buffer.get(), Stream::read_buffer_size};
}

// The stream whose on_stream_error() runs on this thread, and its socket: closed only after
// the call, so that peer_address() still answers there (one per thread, not one per stream).
struct Failing {
  const Stream* stream = nullptr;
  const TcpSocket* socket = nullptr;
};
thread_local Failing failing;

// Names `stream` and its socket as failing for as long as it lives, and restores the record
// it replaced however the scope ends: a handler that throws must not leave `failing` pointing
// at a socket on an unwound stack (peer_address() would read it later).
class FailingScope {
 public:
  FailingScope(const Stream* stream, const TcpSocket* socket) noexcept : outer_(failing) {
    failing = {stream, socket};
  }
  ~FailingScope() { failing = outer_; }
  FailingScope(const FailingScope&) = delete;
  FailingScope& operator=(const FailingScope&) = delete;

 private:
  Failing outer_;
};

std::string system_reason(const char* what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

// Marks the stack frame of a callback-running entry point so that a callback destroying the
// stream is noticed before any member is touched again.
class DestroyGuard {
 public:
  explicit DestroyGuard(bool*& slot) : slot_(slot) { slot_ = &destroyed; }
  ~DestroyGuard() {
    if (!destroyed) slot_ = nullptr;
  }
  DestroyGuard(const DestroyGuard&) = delete;
  DestroyGuard& operator=(const DestroyGuard&) = delete;
  bool destroyed = false;

 private:
  bool*& slot_;
};

// Room for the buffers a flush gathers, left unconstructed: zeroing 64 spans on every flush cost
// more instructions than the rest of it. Bytes storage creates the spans implicitly (a span is an
// implicit-lifetime type: trivial copy and destructor), and only those the handler filled are read.
struct GatherRoom {
  ConstBuffer* buffers() noexcept { return std::launder(reinterpret_cast<ConstBuffer*>(bytes)); }
  alignas(ConstBuffer) std::byte bytes[sizeof(ConstBuffer) * TcpSocket::max_write_buffers];
};

// Whether a buffer after buffers[i] holds bytes: TLS sends a record with MSG_MORE only when
// another write follows it at once, or the kernel would hold it back.
bool bytes_after(std::span<const ConstBuffer> buffers, std::size_t i) noexcept {
  for (std::size_t j = i + 1; j < buffers.size(); ++j) {
    if (!buffers[j].empty()) return true;
  }
  return false;
}

}  // namespace

struct Stream::Tls : TlsSession {
  Tls(TlsSession&& session, const StreamOptions& options)
      : TlsSession(std::move(session)), max_gather(options.max_tls_gather) {}
  std::size_t max_gather;  // StreamOptions::max_tls_gather
};

Stream::Stream(EventLoop& loop, TcpSocket socket, StreamHandler& handler,
               std::optional<TlsSession> tls, const StreamOptions& options)
    : loop_(loop),
      socket_(std::move(socket)),
      handler_(&handler),
      tls_(tls ? std::make_unique<Tls>(std::move(*tls), options) : nullptr) {
  batchable_ = handler.gather_is_pure();
  if (!socket_.valid()) return;
  if (loop_.add(socket_.fd(), Interest::read, *this)) {
    socket_.close();  // is_open() tells the owner
    return;
  }
  if (!tls_) return;
  // OpenSSL reads and writes the socket itself: no ciphertext copies, and kTLS where the
  // kernel has it.
  if (!tls_->attach_socket(socket_.fd())) {
    close();  // a session fed ciphertext already, or out of memory; is_open() tells the owner
    return;
  }
  // A TLS client's ClientHello is already waiting.
  if (tls_->output_waiting()) loop_.defer_flush(socket_.fd());
}

Stream::~Stream() {
  close();
  if (destroyed_ != nullptr) *destroyed_ = true;
}

const TlsSession* Stream::tls() const noexcept {
  return tls_.get();
}

void Stream::request_flush() {
  if (socket_.valid()) loop_.defer_flush(socket_.fd());
}

std::size_t Stream::write_now(std::span<const ConstBuffer> buffers) noexcept {
  if (!socket_.valid() || blocked_ || shutdown_requested_) return 0;
  if (tls_) return encrypt_now(buffers);
  const IoResult result = socket_.write(buffers);
  return result.status == IoStatus::ok ? result.bytes : 0;
}

// TLS takes the plaintext at once: it is encrypted into the session's output, which the flush
// at the end of this iteration sends. The caller's buffers are free again on return, so a large
// send or an echo of received bytes is encrypted straight from where it lies instead of being
// copied into the protocol's output first.
std::size_t Stream::encrypt_now(std::span<const ConstBuffer> buffers) noexcept {
  if (tls_->state() != TlsState::open) return 0;  // a handshake still holds plaintext back
  std::size_t taken = 0;
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    // A full socket: the caller keeps the rest (the session holds at most one buffer's worth).
    // A failure is left for the flush to report: it gathers what was not taken and fails.
    const bool more_follows = bytes_after(buffers, i);
    if (tls_->output_waiting()) break;
    if (!tls_->write(buffers[i], more_follows)) {
      // The peer's reset: the flush delivers what it sent, then fails (fail_write).
      if (tls_->write_refused() != 0) loop_.defer_flush(socket_.fd());
      break;
    }
    taken += buffers[i].size();
  }
  if (tls_->output_waiting() || tls_->state() == TlsState::failed) loop_.defer_flush(socket_.fd());
  return taken;
}

void Stream::pause_reading() {
  if (lingering_) return;  // the peer's FIN must still be seen
  reading_ = false;
  update_interest();
}

void Stream::resume_reading() {
  reading_ = true;
  update_interest();
}

void Stream::shutdown() {
  shutdown_requested_ = true;
  request_flush();
}

void Stream::close_gracefully(std::size_t discard_limit, bool send_fin) {
  if (!socket_.valid() || lingering_) return;
  lingering_ = true;
  send_fin_ = send_fin;
  discard_left_ = static_cast<std::uint32_t>(std::min<std::size_t>(discard_limit, UINT32_MAX));
  shutdown_requested_ = true;
  reading_ = true;
  update_interest();
  request_flush();  // the output, then the shutdown; ends the linger if the peer already left
}

void Stream::close() noexcept {
  if (!socket_.valid()) return;
  // The stream owns its socket alone (accepted or connected with CLOEXEC, never duplicated).
  loop_.forget(socket_.fd());
  socket_.close();
}

Stream::Released Stream::release() {
  Released released;
  if (socket_.valid()) loop_.remove(socket_.fd());
  if (tls_) {
    tls_->allow_socket_reads(0);  // what is still on the socket is the next stream's to read
    // Into a buffer of its own: the thread's read buffer may hold the bytes being delivered.
    std::array<std::uint8_t, 16 * 1024> chunk;
    for (;;) {
      const TlsReadResult got = tls_->read(chunk);
      if (got.status != TlsReadStatus::ok) break;
      released.plaintext.append(reinterpret_cast<const char*>(chunk.data()), got.bytes);
    }
  }
  released.socket = std::move(socket_);
  if (tls_) released.tls.emplace(std::move(static_cast<TlsSession&>(*tls_)));
  tls_.reset();
  return released;
}

std::size_t Stream::unsent_bytes() const noexcept {
  return tls_ ? tls_->unsent_bytes() : 0;
}

std::error_code Stream::update_interest() {
  if (!socket_.valid()) return {};
  const bool read = reading_ && !ended_;
  Interest interest = Interest::none;
  if (read) interest = interest | Interest::read;
  if (blocked_) interest = interest | Interest::write;
  const std::error_code error = loop_.modify(socket_.fd(), interest);
  if (!error) {
    write_interest_ = blocked_;
    read_interest_ = read;
    return {};
  }
  // A refused registration (EPOLL_CTL_ADD after the fd was parked: ENOSPC, ENOMEM) leaves the
  // loop's record as it was, and so read_interest_ and write_interest_. Left at that, a resumed
  // stream would never hear of its input again and a blocked one never of room for its output
  // (an owner waiting for on_stream_drained() would wait for good: nothing asks again unless
  // it flushes more), both silent hangs; a paused one would be woken without end. Asked once
  // more at the end of this iteration (flush), where a second refusal fails the stream.
  if (!interest_refused_) {
    interest_refused_ = true;
    loop_.defer_flush(socket_.fd());
  }
  return error;
}

void Stream::fail(std::string_view reason) {
  if (!socket_.valid()) return;
  if (tls_) tls_->flush_output();  // best effort: what explains why may be waiting
  // Closed for the stream and the loop now (is_open() is false, nothing more is read or
  // written), the descriptor itself only once the handler has heard: after a reset the kernel
  // gives the peer's address only while it is open (TcpSocket::peer_address).
  loop_.forget(socket_.fd());
  const TcpSocket failed(std::move(socket_));
  const FailingScope scope(this, &failed);  // after `failed`: restored before it is closed
  handler_->on_stream_error(reason);        // may destroy this: the caller returns at once
}

// A write fails once the peer has reset the connection (it closed with our bytes unread), yet
// what it sent before stays readable (Linux keeps the receive queue past the reset): unread
// because the owner paused reading (a WebSocket server whose output is over max_backpressure)
// or because the loop has not reported it yet. The peer's last words are there: a WebSocket
// close frame says why it left (1009: our message was too big), and the owner must learn that
// code (RFC 6455 §7.1.5), not "write failed: Broken pipe". So that input is delivered first,
// paused or not, then the stream fails. Bounded: what the kernel holds, read into the thread's
// read buffer and handed over as any read is (the read allowance still applies); nothing is
// buffered here, and nothing changes where writes succeed. Over TLS the session decrypts it
// (its socket BIO keeps OpenSSL out of the fatal state a write error would leave it in: see
// TlsSession::write_refused). Not once the peer's FIN was read (all was delivered) or while
// lingering (input is dropped).
void Stream::fail_write(int error) {
  bool* const destroyed = destroyed_;
  if (tls_ && !ended_ && !lingering_) {
    drain_tls_after_failed_write();
    if (*destroyed || !socket_.valid()) return;  // the owner closed: it knows why it ended
  }
  if (!tls_ && !ended_ && !lingering_) {
    const std::span<std::uint8_t> buffer = read_buffer();
    for (;;) {
      const std::size_t allowance = std::min(handler_->read_allowance(), buffer.size());
      if (allowance == 0) break;
      const IoResult result = socket_.read(buffer.first(allowance));
      if (result.status != IoStatus::ok || result.bytes == 0) break;  // all read, or the reset
      input_drained_ = result.bytes < allowance;
      handler_->on_stream_data(buffer.first(result.bytes));
      if (*destroyed || !socket_.valid()) return;  // the owner closed: it knows why it ended
      if (input_drained_ || lingering_) break;
    }
  }
  fail(system_reason("write failed", error));
}

// What the TLS peer sent before its reset, decrypted and delivered as read_tls() does, with the
// handler's read allowance as the bound of each read. Ends at the peer's close_notify, its
// FIN, the reset itself, or a record the allowance cuts short.
void Stream::drain_tls_after_failed_write() {
  bool* const destroyed = destroyed_;
  const std::span<std::uint8_t> buffer = read_buffer();
  for (;;) {
    const std::size_t allowance = std::min(handler_->read_allowance(), buffer.size());
    if (allowance == 0) return;
    tls_->allow_socket_reads(allowance);
    const TlsReadResult got = tls_->read(buffer.first(allowance));
    if (got.status != TlsReadStatus::ok || got.bytes == 0) return;
    handler_->on_stream_data(buffer.first(got.bytes));
    if (*destroyed || !socket_.valid() || lingering_) return;
  }
}

SocketAddress Stream::peer_address() const {
  if (socket_.valid()) return socket_.peer_address();
  if (failing.stream == this) return failing.socket->peer_address();
  return {};
}

void Stream::read_now() {
  if (socket_.valid() && reading_ && !ended_) on_readable();
}

void Stream::on_readable() {
  DestroyGuard guard(destroyed_);
  // A TLS handshake still running must finish before close_notify can go: its records are
  // processed as usual (the plaintext that may follow is dropped below).
  if (discarding()) {
    discard_input();
    return;
  }
  const std::size_t allowance = handler_->read_allowance();
  if (allowance == 0) return;
  if (!tls_) {
    const std::span<std::uint8_t> destination = handler_->read_destination();
    if (!destination.empty()) {
      read_into_destination(destination, allowance);
      return;
    }
  }
  const std::span<std::uint8_t> buffer = read_buffer();
  if (tls_) {
    read_tls(buffer, std::min(allowance, buffer.size()), guard.destroyed);
    return;
  }
  const std::size_t bytes = read_socket(buffer.first(std::min(allowance, buffer.size())));
  if (bytes == 0) return;
  handler_->on_stream_data(buffer.first(bytes));
}

// Runs under on_readable's DestroyGuard (`destroyed` is its flag). OpenSSL reads the socket
// itself, at most `allowance` bytes of ciphertext this time.
void Stream::read_tls(std::span<std::uint8_t> buffer, std::size_t allowance,
                      const bool& destroyed) {
  // Lingering, still in the TLS handshake: the bound counts its ciphertext (one byte over is
  // enough to know the peer went over).
  const bool bounded = lingering_;  // (a close_gracefully() from on_stream_data starts later)
  if (bounded) allowance = std::min<std::size_t>(allowance, std::size_t{discard_left_} + 1);
  const std::uint64_t read_before = tls_->socket_bytes_read();
  const bool was_handshaking = tls_->state() == TlsState::handshaking;
  tls_->allow_socket_reads(allowance);  // advances a handshake in progress
  if (was_handshaking && tls_->handshake_done()) {
    loop_.defer_flush(socket_.fd());  // the owner's output waited for this
    if (!lingering_) {
      handler_->on_stream_secured();
      if (destroyed || !socket_.valid()) return;
    }
  }
  // Records (16 KiB of plaintext at most each) are decrypted one after the other into the
  // buffer and handed over together: a 64 KiB message then arrives whole, and the protocol
  // core delivers it in place instead of assembling it from four pieces.
  std::size_t filled = 0;
  for (;;) {
    TlsReadResult got;  // need_more: the buffer is full, hand it over first
    if (filled < buffer.size()) got = tls_->read(buffer.subspan(filled));
    if (got.status == TlsReadStatus::ok && got.bytes > 0) {
      if (!lingering_) filled += got.bytes;  // the protocol is over: nothing more is delivered
      continue;
    }
    if (bounded) {  // nothing was delivered: this runs once
      const std::uint64_t read = tls_->socket_bytes_read() - read_before;
      if (read > discard_left_) {
        fail("the peer kept sending after the close");
        return;
      }
      discard_left_ -= static_cast<std::uint32_t>(read);
    }
    if (filled > 0) {
      const bool full = filled == buffer.size();
      handler_->on_stream_data(buffer.first(filled));
      if (destroyed || !socket_.valid()) return;
      filled = 0;
      if (full) continue;  // more may be decrypted
    }
    if (got.status == TlsReadStatus::failed) {
      fail(tls_->error());
      return;
    }
    if (got.status == TlsReadStatus::closed) {
      // close_notify, or the peer's FIN: the end of its stream either way, as over plain TCP.
      peer_ended();
      if (destroyed || !socket_.valid()) return;
    }
    break;
  }
  // A handshake flight or alert the socket refused; a shutdown may have waited for the
  // handshake to end.
  if (tls_->output_waiting() || (shutdown_requested_ && !shutdown_done_)) {
    loop_.defer_flush(socket_.fd());
  }
}

// Runs under on_readable's DestroyGuard (plain TCP).
void Stream::read_into_destination(std::span<std::uint8_t> destination, std::size_t allowance) {
  const std::span<std::uint8_t> placed = destination.first(std::min(allowance, destination.size()));
  const std::span<std::uint8_t> buffer = read_buffer();
  const std::span<std::uint8_t> then =
      buffer.first(std::min(allowance - placed.size(), buffer.size()));
  const std::size_t bytes = read_socket(placed, then);
  if (bytes == 0) return;
  bool* const destroyed = destroyed_;
  const std::size_t in_place = std::min(bytes, placed.size());
  handler_->on_stream_data_placed(in_place);
  if (bytes == in_place || *destroyed || !socket_.valid()) return;
  handler_->on_stream_data(then.first(bytes - in_place));
}

// Runs under on_readable's DestroyGuard.
void Stream::discard_input() {
  const std::span<std::uint8_t> buffer = read_buffer();
  // One byte more than allowed is enough to know the peer went over.
  const std::size_t room = std::min<std::size_t>(buffer.size(), std::size_t{discard_left_} + 1);
  const std::size_t bytes = read_socket(buffer.first(room));
  if (bytes == 0) return;
  if (bytes > discard_left_) {
    fail("the peer kept sending after the close");  // RST: the bound is reached
    return;
  }
  discard_left_ -= static_cast<std::uint32_t>(bytes);
}

// Runs under on_readable's DestroyGuard.
std::size_t Stream::read_socket(std::span<std::uint8_t> into, std::span<std::uint8_t> then) {
  const IoResult result = socket_.read(into, then);
  input_drained_ = result.status != IoStatus::ok || result.bytes < into.size() + then.size();
  switch (result.status) {
    case IoStatus::ok:
      return result.bytes;
    case IoStatus::would_block:
      return 0;
    case IoStatus::error:
      fail(system_reason("read failed", result.error));
      return 0;
    case IoStatus::closed:
      peer_ended();
      return 0;
  }
  return 0;
}

// Runs under on_readable's DestroyGuard.
void Stream::peer_ended() {
  ended_ = true;
  // Refused, the read interest stays and the flush asks again (update_interest), failing the
  // stream if refused once more: the end waits for that answer, so that the handler hears
  // either the end or the failure, never the end and then the failure. (A lingering stream
  // reports neither here unless its close is over: then the socket closes and nothing follows.)
  if (update_interest() && !discarding()) {
    end_deferred_ = true;
    return;
  }
  if (!discarding()) {
    handler_->on_stream_end();
  } else if (shutdown_done_) {
    end_linger();  // else the flush that sends the rest ends it
  }
}

bool Stream::discarding() const noexcept {
  return lingering_ && !(tls_ && tls_->state() == TlsState::handshaking);
}

void Stream::end_linger() {
  close();
  handler_->on_stream_end();  // may destroy this
}

void Stream::on_writable() {
  DestroyGuard guard(destroyed_);
  flush();
}

void Stream::on_flush() {
  DestroyGuard guard(destroyed_);
  flush();
}

// The loop's batch takes plain TCP output with nothing else to do: no TLS, no shutdown or close
// to follow (their last bytes go with MSG_MORE, then the FIN), not waiting for room, no refused
// interest to ask for again, and no more than one write's worth (TcpSocket::write splits a
// larger one). The rest flushes the usual way.
std::size_t Stream::gather_batched(std::span<ConstBuffer> out) {
  if (!batchable_ || tls_ || blocked_ || shutdown_requested_ || close_follows_ ||
      interest_refused_ || !socket_.valid()) {
    return 0;
  }
  const std::size_t count = std::min(
      handler_->gather_output(out.first(std::min(out.size(), TcpSocket::max_write_buffers))),
      out.size());
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) total += out[i].size();
  if (total == 0 || total > TcpSocket::max_single_write) return 0;
  return count;
}

// How the batched write of what gather_batched() gave went: as the end of flush() would take it.
void Stream::on_batched_write(const IoResult& result, std::size_t total, bool more_may_wait) {
  DestroyGuard guard(destroyed_);
  if (!socket_.valid()) return;
  if (result.status == IoStatus::error) {
    fail_write(result.error);
    return;
  }
  if (result.bytes > 0) {
    handler_->consume_output(result.bytes);
    if (guard.destroyed || !socket_.valid()) return;
  }
  if (result.status == IoStatus::would_block || result.bytes < total) {
    blocked_ = true;
  } else if (more_may_wait || shutdown_requested_ || close_follows_) {
    flush();  // the rest of the output, or what consume_output() asked for, the usual way
    return;
  }
  if (blocked_ != write_interest_) update_interest();
}

bool Stream::write_tls_output() {
  const bool was_handshaking = tls_->state() == TlsState::handshaking;
  if (tls_->flush_output()) {
    if (was_handshaking && tls_->handshake_done()) {
      // The handshake's last flight waited for room (a client's Finished): it is over now.
      if (!lingering_) handler_->on_stream_secured();  // may destroy this
    }
    return true;
  }
  if (tls_->write_refused() != 0) {
    fail_write(tls_->write_refused());
  } else if (tls_->state() == TlsState::failed) {
    fail(tls_->error());
  }
  return false;
}

// Runs under the caller's DestroyGuard; returns at once when the stream was destroyed.
void Stream::flush() {
  if (!socket_.valid()) return;
  const bool was_blocked = blocked_;
  blocked_ = false;
  bool* const destroyed = destroyed_;
  if (!shutdown_done_) {
    GatherRoom room;
    ConstBuffer* const buffers = room.buffers();
    for (;;) {
      if (tls_) {
        const bool sent = write_tls_output();
        if (*destroyed || !socket_.valid()) return;
        if (!sent) {
          blocked_ = true;  // stop pulling plaintext until the ciphertext leaves
          break;
        }
      }
      // Plaintext waits with its owner until the handshake is over (the flush that follows it
      // gathers), rather than piling up in the session unbounded.
      if (tls_ && tls_->state() == TlsState::handshaking) break;
      const std::size_t count = handler_->gather_output({buffers, TcpSocket::max_write_buffers});
      if (*destroyed || !socket_.valid()) return;
      if (count == 0) break;
      const std::span<const ConstBuffer> gathered(buffers,
                                                  std::min(count, TcpSocket::max_write_buffers));
      std::size_t total = 0;
      if (tls_) {
        for (std::size_t i = 0; i < gathered.size(); ++i) {
          if (total >= tls_->max_gather) break;
          // At most max_tls_gather in all, however large the owner's buffers: that bounds what
          // the session holds when the socket fills up.
          const ConstBuffer piece =
              gathered[i].first(std::min(gathered[i].size(), tls_->max_gather - total));
          const bool more_follows =
              total + piece.size() < tls_->max_gather && bytes_after(gathered, i);
          if (!tls_->write(piece, more_follows)) {
            if (tls_->write_refused() != 0) {
              fail_write(tls_->write_refused());
            } else {
              fail(tls_->error().empty() ? "TLS write after close" : tls_->error());
            }
            return;
          }
          total += piece.size();
          if (tls_->output_waiting()) break;  // the socket is full: the rest stays the owner's
        }
        if (total == 0) break;  // only empty buffers: nothing to do
        handler_->consume_output(total);
        if (*destroyed || !socket_.valid()) return;
        continue;
      }
      for (const ConstBuffer& buffer : gathered) total += buffer.size();
      if (total == 0) break;
      // The FIN comes right after this output (a shutdown in this flush, or the owner's close()
      // once it is consumed): the last bytes wait for it and leave in the same segment.
      const bool fin_follows = close_follows_ || (shutdown_requested_ && send_fin_);
      const IoResult result = socket_.write(gathered, fin_follows);
      if (result.status == IoStatus::error) {
        fail_write(result.error);
        return;
      }
      if (result.bytes > 0) {
        handler_->consume_output(result.bytes);
        if (*destroyed || !socket_.valid()) return;
      }
      if (result.status == IoStatus::would_block || result.bytes < total) {
        blocked_ = true;
        break;
      }
    }
  }
  // A FIN in the middle of the TLS handshake would cut it (and any plaintext held for after
  // it) short: the shutdown waits until the handshake is over (see on_readable).
  const bool handshaking = tls_ && tls_->state() == TlsState::handshaking;
  if (!blocked_ && shutdown_requested_ && !shutdown_done_ && !handshaking) {
    if (tls_) {
      tls_->close();
      const bool sent = write_tls_output();
      if (*destroyed || !socket_.valid()) return;
      if (!sent) blocked_ = true;
    }
    if (!blocked_) {
      shutdown_done_ = true;
      if (send_fin_) socket_.shutdown_write();
      if (lingering_ && ended_) {
        end_linger();
        return;
      }
    }
  }
  // Reading and its end update the interest where they change (pause/resume_reading, EOF),
  // also from inside this flush, where blocked_ is false until the write: the loop needs asking
  // only when the write interest it was last given is not blocked_. Asking it every time cost
  // ~40 instructions per flush (a slot lookup), ~5 per message of a small-message echo.
  // An interest the loop refused (update_interest) is asked for once more here; refused again,
  // the stream could never be told of its input or of room for its output: it fails rather than
  // hang unseen.
  if (interest_refused_) {
    interest_refused_ = false;
    if (const std::error_code error = update_interest()) {
      const bool read_refused = (reading_ && !ended_) != read_interest_;
      fail(std::string("the event loop refused the socket's ") + (read_refused ? "read" : "write") +
           " interest: " + error.message());
      return;
    }
    if (end_deferred_) {  // the peer's end, held back for this answer (peer_ended)
      end_deferred_ = false;
      handler_->on_stream_end();
      if (*destroyed || !socket_.valid()) return;
    }
  } else if (blocked_ != write_interest_) {
    update_interest();
  }
  if (was_blocked && !blocked_) handler_->on_stream_drained();
}

}  // namespace wsx::io
