// Failures that no close code or ClientError can carry to the application: an exception thrown by
// the application's own callback, a client whose TLS handshake failed, a signal watcher that
// could not start. The server and the client hand them to an ErrorHook (ServerOptions::error_hook,
// ClientOptions::error_hook); without one, each becomes one line on stderr.
//
// The exception policy, for every callback the library calls (upgrade, upgrade_async, open,
// message, fragment, drain, ping, pong, close, frame, the http handler, access_log, a task posted
// through a WebSocketHandle, the client's callbacks): an exception never leaves the event loop.
// The connection it belongs to fails with close code 1011 (internal error: our close frame, then
// the transport closes; the close callback still fires once with 1011 unless it was the one that
// threw), an http handler's request or an upgrade decision gets 500, the thread goes on serving
// every other connection, and the hook is told. Callbacks that belong to no connection
// (access_log, a client's error, done and handshake trace) are only reported. The peer never
// sees what() (it may hold secrets): the close reason is "internal error". An exception thrown
// by the hook itself is swallowed after one line on stderr.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "wsx/export.hpp"

namespace wsx {

enum class ErrorSource : std::uint8_t {
  callback,       // an exception escaped an application callback
  tls_handshake,  // a client's TLS handshake failed (server side)
  signals,        // the signal watcher could not be installed, or failed while waiting
  listener,       // accepting connections failed for a reason other than the client leaving
};

// "callback exception", "TLS handshake failed", ...
WSX_API std::string_view describe(ErrorSource source) noexcept;

// Views are valid during the hook's call only.
struct WSX_API ErrorReport {
  ErrorSource source = ErrorSource::callback;
  // The exception's what() ("unknown exception" for one not derived from std::exception),
  // OpenSSL's reason, the system error, ...
  std::string_view message;
  std::string_view callback;  // which callback threw ("message", "upgrade", "http", ...)
  // The route pattern ("/rooms/*"); the request's path for the http handler and access_log;
  // the URL for a client.
  std::string_view route;
  std::string_view remote_address;  // "127.0.0.1:51234"; empty when there is no peer
};

// Called on the thread where the failure happened (a server or client loop thread); it must be
// thread-safe when the server runs several threads.
using ErrorHook = std::function<void(const ErrorReport&)>;

// Hands `report` to `hook`, or writes one line to stderr when the hook is empty:
//   wsx: exception in 'message' callback (route /rooms/*, peer 127.0.0.1:51234): <what>
// Never throws.
WSX_API void report_error(const ErrorHook& hook, const ErrorReport& report) noexcept;

// The line report_error() writes for `report`, without the trailing newline.
WSX_API std::string format_error_report(const ErrorReport& report);

}  // namespace wsx
