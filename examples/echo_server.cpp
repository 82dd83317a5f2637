// Echoes every message with its opcode, on any path. Stops gracefully on SIGINT / SIGTERM.
//   echo_server [--host 127.0.0.1] [--port 9001] [--threads N] [--compress [--zlib] [--window-bits
//   9-15]]
//               [--max-message BYTES] [--max-buffered BYTES] [--tls-cert FILE --tls-key FILE]
//               [--allow-origin ORIGIN]... [--coalesce-wait MICROSECONDS]
// Browser pages of other origins than the server's get 403 unless listed with --allow-origin.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "wsx/server.hpp"

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", cert, key;
  unsigned long port = 9001, threads = 1, max_message = 16 * 1024 * 1024;
  unsigned long long max_buffered = wsx::ServerOptions{}.max_buffered_bytes;
  bool compress = false, zlib_only = false;
  unsigned long window_bits = 0;    // 0: the library's default
  unsigned long coalesce_wait = 0;  // microseconds; 0: off (ServerOptions::coalesce_wait)
  std::vector<std::string> allowed_origins;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (flag == "--compress" || flag == "--deflate") {
      compress = true;
    } else if (flag == "--zlib") {
      zlib_only = true;  // zlib both ways even where ISA-L or libdeflate is built in
    } else if (value != nullptr && flag == "--window-bits") {
      window_bits = std::strtoul(argv[++i], nullptr, 10);
    } else if (value != nullptr && flag == "--host") {
      host = argv[++i];
    } else if (value != nullptr && flag == "--port") {
      port = std::strtoul(argv[++i], nullptr, 10);
    } else if (value != nullptr && flag == "--threads") {
      threads = std::strtoul(argv[++i], nullptr, 10);
    } else if (value != nullptr && flag == "--max-message") {
      max_message = std::strtoul(argv[++i], nullptr, 10);
    } else if (value != nullptr && flag == "--max-buffered") {
      max_buffered = std::strtoull(argv[++i], nullptr, 10);
    } else if (value != nullptr && flag == "--tls-cert") {
      cert = argv[++i];
    } else if (value != nullptr && flag == "--tls-key") {
      key = argv[++i];
    } else if (value != nullptr && flag == "--coalesce-wait" &&
               std::strtoul(value, nullptr, 10) <= 10'000) {  // wsx::io::max_coalesce_wait
      coalesce_wait = std::strtoul(argv[++i], nullptr, 10);
    } else if (value != nullptr && flag == "--allow-origin") {
      allowed_origins.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--host H] [--port N] [--threads N] [--compress [--zlib] "
                   "[--window-bits 9-15]] "
                   "[--max-message BYTES] [--max-buffered BYTES] [--tls-cert FILE --tls-key FILE] "
                   "[--allow-origin ORIGIN]... [--coalesce-wait 0-10000 MICROSECONDS]\n",
                   argv[0]);
      return 2;
    }
  }

  wsx::ServerOptions options{.threads = static_cast<unsigned>(threads),
                             .max_buffered_bytes = max_buffered,
                             .handle_signals = true};
  options.coalesce_wait = std::chrono::microseconds(coalesce_wait);
  if (!cert.empty() || !key.empty()) options.tls = wsx::ServerTlsOptions{cert, key};
  wsx::Server server(options);
  wsx::Behavior echo{
      .origin = wsx::OriginPolicy::same_origin(false, allowed_origins),
      .max_message_size = max_message,
      .max_backpressure = 2 * max_message + 1024 * 1024,  // a pipelined echo of big messages
      .message = [](wsx::WebSocket& ws, wsx::Message msg) { ws.send(msg.data, msg.kind); },
  };
  if (compress) echo.deflate = wsx::proto::DeflateServerOptions{};
  if (compress && zlib_only) echo.deflate->tuning.engine = wsx::proto::DeflateEngine::zlib;
  if (compress && window_bits != 0)
    echo.deflate->tuning.window_bits = static_cast<std::uint8_t>(window_bits);
  server.route("/*", std::move(echo));
  if (const std::error_code error = server.listen(host, static_cast<std::uint16_t>(port))) {
    std::fprintf(stderr, "cannot listen on %s:%lu: %s %s\n", host.c_str(), port,
                 error.message().c_str(), server.tls_error().c_str());
    return 1;
  }
  std::printf("echo_server listening on %s:%u\n", host.c_str(), server.port());
  std::fflush(stdout);
  server.run();
  return 0;
}
