// Everything `wsx connect` was asked to do, as parsed from its command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wsx::tool {

struct ConnectSettings {
  std::string url;
  // Handshake
  std::vector<std::string> headers;  // "Name: value"
  std::vector<std::string> subprotocols;
  std::string origin;
  std::string auth;  // user:pass for HTTP Basic
  bool compress = false;
  bool http2 = false;  // offer h2 by ALPN: the WebSocket as an extended CONNECT stream
  bool client_no_context_takeover = false;
  bool server_no_context_takeover = false;
  unsigned client_max_window_bits = 0;  // 0: offer the parameter without a value
  unsigned server_max_window_bits = 0;  // 0: do not ask
  bool insecure = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string proxy;      // --proxy URL; empty: the environment's
  bool location = false;  // -L: follow redirects
  unsigned max_redirects = 5;
  double connect_timeout = 10;                   // seconds, for TCP and for the handshake each
  std::uint64_t max_message = 16 * 1024 * 1024;  // either way: received, or a line to send
  // Input
  std::vector<std::string> execute;  // -x: send these, wait, close
  std::optional<double> wait;        // -w seconds
  bool echo = false;
  bool binary = false;  // stdin lines (or all of stdin) go as binary messages
  bool whole = false;   // all of stdin is one message
  bool reconnect = false;
  // Output
  bool raw = false;  // stdout: payloads only, one per line
  bool json = false;
  bool show_ping_pong = false;
  bool trace = false;
  bool no_color = false;
};

// How long -x waits after sending when -w is not given.
inline constexpr double default_execute_wait = 2.0;

}  // namespace wsx::tool
