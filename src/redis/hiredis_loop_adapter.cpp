#include "redis/hiredis_loop_adapter.hpp"

#include <hiredis/async.h>
#include <unistd.h>

#include "wsx/io/event_loop.hpp"

namespace wsx::redis {
namespace {

class LoopAdapter final : public io::IoHandler {
 public:
  LoopAdapter(io::EventLoop& loop, redisAsyncContext* context)
      : loop_(loop), context_(context), fd_(context->c.fd) {}

  bool install() {
    if (loop_.add(fd_, io::Interest::none, *this)) return false;
    context_->ev.data = this;
    context_->ev.addRead = [](void* self) { static_cast<LoopAdapter*>(self)->want(read_, true); };
    context_->ev.delRead = [](void* self) { static_cast<LoopAdapter*>(self)->want(read_, false); };
    context_->ev.addWrite = [](void* self) { static_cast<LoopAdapter*>(self)->want(write_, true); };
    context_->ev.delWrite = [](void* self) {
      static_cast<LoopAdapter*>(self)->want(write_, false);
    };
    context_->ev.cleanup = [](void* self) { static_cast<LoopAdapter*>(self)->cleanup(); };
    return true;
  }

  // hiredis may free the context (and, through cleanup, this adapter) inside either call:
  // nothing of `this` is touched after them.
  void on_readable() override { redisAsyncHandleRead(context_); }
  void on_writable() override { redisAsyncHandleWrite(context_); }
  // A failed connect shows as an error on the socket; hiredis finds out (and reports it through
  // the connect callback) when it checks the connection on the write side.
  void on_error() override {
    if (writing_) {
      redisAsyncHandleWrite(context_);
    } else {
      redisAsyncHandleRead(context_);
    }
  }

 private:
  static constexpr int read_ = 1;
  static constexpr int write_ = 2;

  void want(int which, bool on) {
    if (which == read_) reading_ = on;
    if (which == write_) writing_ = on;
    io::Interest interest = io::Interest::none;
    if (reading_) interest = interest | io::Interest::read;
    if (writing_) interest = interest | io::Interest::write;
    loop_.modify(fd_, interest);
  }

  void cleanup() {
    loop_.remove(fd_);
    context_->ev.data = nullptr;
    delete this;
  }

  io::EventLoop& loop_;
  redisAsyncContext* context_;
  int fd_;
  bool reading_ = false;
  bool writing_ = false;
};

}  // namespace

bool attach_to_loop(io::EventLoop& loop, redisAsyncContext* context) {
  if (context == nullptr || context->ev.data != nullptr || context->c.fd < 0) return false;
  auto* adapter = new LoopAdapter(loop, context);
  if (!adapter->install()) {
    delete adapter;
    return false;
  }
  return true;
}

redisAsyncContext* async_context_on_socket(int fd) {
  // hiredis 0.14 cannot make an asynchronous context from a socket (redisAsyncInitialize is
  // private), so one is made by a Unix connect that cannot succeed — an empty path — and is
  // then given the socket: its fields (c.fd, c.err, c.errstr, c.flags) are public in 0.14's
  // hiredis.h. Marked connected, hiredis skips its own connect check and writes at once.
  redisAsyncContext* context = redisAsyncConnectUnix("");
  if (context == nullptr) {
    ::close(fd);
    return nullptr;
  }
  if (context->c.fd >= 0) ::close(context->c.fd);  // should the connect have worked after all
  context->c.fd = fd;
  context->c.err = 0;
  context->c.errstr[0] = '\0';
  context->c.flags |= REDIS_CONNECTED;
  context->c.flags &= ~REDIS_BLOCK;
  context->err = 0;
  return context;
}

}  // namespace wsx::redis
