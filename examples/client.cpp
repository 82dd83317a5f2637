// A WebSocket client in a few lines: connects to a URL, sends each argument as a text message,
// prints the replies, and closes once every message has been answered.
//
//   example_client ws://127.0.0.1:9001/ hello world
//   example_client wss://example.com/echo --ca ca.pem "over TLS"
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "wsx/client.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [--ca FILE] [MESSAGE...]\n", argv[0]);
    return 2;
  }
  wsx::ClientOptions options;
  options.url = argv[1];
  std::vector<std::string> messages;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
      options.tls.ca_file = argv[++i];
    } else {
      messages.emplace_back(argv[i]);
    }
  }

  std::size_t replies = 0;
  wsx::ClientHandlers handlers;
  handlers.open = [&](wsx::WebSocket& ws) {
    std::printf("connected to %s\n", options.url.c_str());
    for (const std::string& message : messages) ws.send(message);
    if (messages.empty()) ws.close();
  };
  handlers.message = [&](wsx::WebSocket& ws, wsx::Message message) {
    std::printf("< %.*s\n", static_cast<int>(message.text().size()), message.text().data());
    if (++replies == messages.size()) ws.close(1000, "bye");
  };
  handlers.error = [](const wsx::ClientError& error) {
    std::fprintf(stderr, "error: %s\n", error.message.c_str());
  };

  try {
    const wsx::ClientResult result = wsx::run_client(options, handlers);
    if (!result.opened) return 1;
    std::printf("closed: %u %s\n", result.close_code, result.clean ? "(clean)" : "(not clean)");
    return result.clean && replies == messages.size() ? 0 : 1;
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 2;
  }
}
