// The wsx side of the interop suite as a server with the command protocol of py_server.py (the
// plain echo is examples/echo_server): peers' clients can then check server-initiated close,
// ping and fragments, subprotocol choice and refusals against wsx::Server too.
//
// Usage: wsx_interop_server --port N [--tls-cert F --tls-key F] [--deflate SPEC]
//                           [--subprotocols a,b] [--max-lifetime S]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wsx/server.hpp"

namespace {

using namespace std::chrono_literals;

struct PerConnection {
  std::string id;
  std::string origin;
  std::string pending_ping;  // payload of our ping whose pong is awaited
};

std::mutex closed_mutex;
std::map<std::string, std::pair<std::uint16_t, std::string>> closed;  // id → code, reason

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (!text.empty() && start <= text.size()) {
    std::size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::optional<wsx::proto::DeflateServerOptions> parse_deflate(const std::string& spec) {
  if (spec.empty() || spec == "off") return std::nullopt;
  wsx::proto::DeflateServerOptions options;
  options.client_max_window_bits = 15;  // accept the client's own choice unless told otherwise
  if (spec == "on") return options;
  for (const std::string& item : split(spec, ',')) {
    const std::size_t equals = item.find('=');
    const std::string name = item.substr(0, equals);
    const int value = equals == std::string::npos ? 0 : std::atoi(item.c_str() + equals + 1);
    if (name == "server_no_context_takeover")
      options.server_no_context_takeover = true;
    else if (name == "client_no_context_takeover")
      options.client_no_context_takeover = true;
    else if (name == "server_max_window_bits")
      options.server_max_window_bits = static_cast<std::uint8_t>(value);
    else if (name == "client_max_window_bits")
      options.client_max_window_bits = static_cast<std::uint8_t>(value);
    else {
      std::fprintf(stderr, "unknown deflate parameter %s\n", name.c_str());
      std::exit(2);
    }
  }
  return options;
}

std::string pattern_text(std::size_t size) {
  static const std::string alphabet =
      "abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = alphabet[(i * 7 + i / 91) % alphabet.size()];
  return text;
}

std::string pattern_bytes(std::size_t size) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(((i * 13) ^ (i >> 8)) & 0xff);
  return data;
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Answers "!lastclose ID" once the connection ID has been closed (it may still be closing).
void answer_last_close(wsx::WebSocketHandle handle, const std::string& id, int tries) {
  std::optional<std::pair<std::uint16_t, std::string>> record;
  {
    std::lock_guard lock(closed_mutex);
    if (auto it = closed.find(id); it != closed.end()) record = it->second;
  }
  if (record || tries == 0) {
    const std::string reply =
        record ? "!lastclose " + std::to_string(record->first) + " " + record->second
               : "!lastclose 0 unknown id";
    handle.send(reply);
    return;
  }
  std::thread([handle, id, tries]() mutable {
    std::this_thread::sleep_for(10ms);
    handle.post([handle, id, tries](wsx::WebSocket&) { answer_last_close(handle, id, tries - 1); });
  }).detach();
}

void command(wsx::WebSocket& ws, const std::string& text) {
  const std::size_t space = text.find(' ');
  const std::string name =
      text.substr(1, space == std::string::npos ? std::string::npos : space - 1);
  const std::string rest = space == std::string::npos ? "" : text.substr(space + 1);
  PerConnection* state = ws.data<PerConnection>();
  if (name == "close") {
    const std::size_t gap = rest.find(' ');
    ws.close(static_cast<std::uint16_t>(std::atoi(rest.c_str())),
             gap == std::string::npos ? "" : rest.substr(gap + 1));
  } else if (name == "ping") {
    state->pending_ping = rest;
    ws.ping(bytes_of(rest));
  } else if (name == "fragments") {
    const std::vector<std::string> words = split(rest, ' ');
    const bool is_text = words.at(0) == "text";
    const std::size_t count = std::stoul(words.at(1));
    const std::size_t size = std::stoul(words.at(2));
    const std::string data = is_text ? pattern_text(size) : pattern_bytes(size);
    const std::size_t step = std::max<std::size_t>(1, (size + count - 1) / count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t begin = std::min(i * step, size);
      const std::size_t end = std::min((i + 1) * step, size);
      ws.send_fragment(bytes_of(data).subspan(begin, end - begin),
                       is_text ? wsx::MessageKind::text : wsx::MessageKind::binary, i + 1 == count);
    }
  } else if (name == "subprotocol") {
    ws.send("!subprotocol " + std::string(ws.subprotocol()));
  } else if (name == "extensions") {
    ws.send(std::string("!extensions ") + (ws.compressed() ? "permessage-deflate" : ""));
  } else if (name == "header") {
    ws.send("!header " + (rest == "Origin" ? state->origin : std::string()));
  } else if (name == "lastclose") {
    answer_last_close(ws.handle(), rest, 500);
  } else {
    ws.send("!unknown " + name);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", cert, key, deflate = "off", subprotocols;
  unsigned long port = 0;
  double lifetime = 120;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--port")
      port = std::stoul(value);
    else if (flag == "--host")
      host = value;
    else if (flag == "--tls-cert")
      cert = value;
    else if (flag == "--tls-key")
      key = value;
    else if (flag == "--deflate")
      deflate = value;
    else if (flag == "--subprotocols")
      subprotocols = value;
    else if (flag == "--max-lifetime")
      lifetime = std::stod(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  wsx::ServerOptions options;
  options.threads = 1;
  if (!cert.empty()) options.tls = wsx::ServerTlsOptions{cert, key};
  wsx::Server server(options);

  wsx::Behavior behavior;
  behavior.subprotocols = split(subprotocols, ',');
  behavior.deflate = parse_deflate(deflate);
  behavior.max_message_size = 32 * 1024 * 1024;
  // The peers' clients send a made-up Origin, and "!header Origin" reports what arrived.
  behavior.origin = wsx::OriginPolicy::allow_any();
  behavior.max_backpressure = 64 * 1024 * 1024;
  behavior.upgrade = [](const wsx::UpgradeRequest& request) {
    if (request.path.starts_with("/reject/")) {
      const int status = std::atoi(std::string(request.path.substr(8)).c_str());
      return wsx::UpgradeDecision::reject(status, "no", {{"X-Reject", "interop"}});
    }
    PerConnection state;
    for (const std::string& pair : split(std::string(request.query), '&')) {
      if (pair.starts_with("id=")) state.id = pair.substr(3);
    }
    state.origin = std::string(request.origin.value_or(""));
    return wsx::UpgradeDecision::accept({}, state);
  };
  behavior.message = [](wsx::WebSocket& ws, wsx::Message message) {
    if (message.kind == wsx::MessageKind::text && message.text().starts_with("!")) {
      command(ws, std::string(message.text()));
    } else {
      ws.send(message.data, message.kind);
    }
  };
  behavior.pong = [](wsx::WebSocket& ws, std::span<const std::uint8_t> payload) {
    PerConnection* state = ws.data<PerConnection>();
    const std::string text(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (!state->pending_ping.empty() && text == state->pending_ping) {
      state->pending_ping.clear();
      ws.send("!pong " + text);
    }
  };
  behavior.close = [](wsx::WebSocket& ws, const wsx::CloseInfo& info) {
    PerConnection* state = ws.data<PerConnection>();
    if (state == nullptr || state->id.empty()) return;
    std::lock_guard lock(closed_mutex);
    closed[state->id] = {info.code, std::string(info.reason)};
  };
  server.route("/*", std::move(behavior));
  if (const std::error_code error = server.listen(host, static_cast<std::uint16_t>(port))) {
    std::fprintf(stderr, "cannot listen: %s %s\n", error.message().c_str(),
                 server.tls_error().c_str());
    return 1;
  }
  std::printf("ready on %u\n", server.port());
  std::fflush(stdout);
  std::thread([&server, lifetime] {
    std::this_thread::sleep_for(std::chrono::duration<double>(lifetime));
    server.stop();
  }).detach();
  server.run();
  return 0;
}
