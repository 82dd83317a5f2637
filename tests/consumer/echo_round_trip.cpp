// Built against an installed wsx (scripts/consumer-test.sh): a server on a free loopback port,
// a client that sends one message and expects its echo. It calls into every layer, so a public
// function that the shared libraries do not export fails to link here.
#include <wsx/client.hpp>
#include <wsx/io/socket_address.hpp>
#include <wsx/proto/handshake.hpp>
#include <wsx/server.hpp>
#include <wsx/version.hpp>

#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

int main() {
  if (std::string_view(wsx::version_string) != WSX_VERSION_STRING) return 10;
  // proto and io, directly.
  if (wsx::proto::accept_key("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
    return 11;
  }
  if (!wsx::io::is_ip_literal("127.0.0.1")) return 12;

  // server and session.
  wsx::Server server({.threads = 1});
  server.route("/echo", {.message = [](wsx::WebSocket& ws, wsx::Message m) {
                           ws.send(m.data, m.kind);
                         }});
  if (server.listen("127.0.0.1", 0)) return 13;
  std::thread serving([&server] { server.run(); });

  // client.
  std::string echoed, failure;
  const wsx::ClientResult result = wsx::run_client(
      {.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/echo"},
      {.open = [](wsx::WebSocket& ws) { ws.send("round trip"); },
       .message =
           [&echoed](wsx::WebSocket& ws, wsx::Message m) {
             echoed = std::string(m.text());
             ws.close(1000);
           },
       .error = [&failure](const wsx::ClientError& e) { failure = e.message; }});
  server.stop();
  serving.join();

  std::printf("wsx %s: sent \"round trip\", received \"%s\"%s%s\n", wsx::version_string,
              echoed.c_str(), failure.empty() ? "" : "; error: ", failure.c_str());
  return echoed == "round trip" && result.clean ? 0 : 1;
}
