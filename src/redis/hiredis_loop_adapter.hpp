// Drives a hiredis asynchronous context from a wsx event loop: hiredis says when it wants to
// read or write (its ev hooks), the loop tells it when the socket is ready. Everything runs on
// the loop's thread. hiredis 0.14 (Debian 12) has no timer hook; connect and command timeouts
// are the broker's own loop timers.
#pragma once

#include "wsx/export.hpp"

struct redisAsyncContext;

namespace wsx::io {
class EventLoop;
}

namespace wsx::redis {

// Installs the hooks on `context` (which must have none yet). The adapter frees itself when
// hiredis calls its cleanup hook (the context is freed or disconnected). False when the
// context already has an event library or its socket cannot be registered.
// Exported for the tests of a shared build, like the layers' private headers.
WSX_API bool attach_to_loop(io::EventLoop& loop, redisAsyncContext* context);

// An asynchronous context on a socket wsx connected itself (plain TCP to Redis, or the
// hiredis end of a TLS relay's socket pair), so that hiredis never resolves a name or connects:
// hiredis 0.14 resolves with a blocking getaddrinfo on the caller's thread, and has no TLS.
// The context owns `fd` from now on (redisAsyncFree closes it); on failure (nullptr) `fd` is
// closed. `fd` must be connected and non-blocking.
WSX_API redisAsyncContext* async_context_on_socket(int fd);

}  // namespace wsx::redis
