// The wsx side of the interop suite as a client: runs the scenario list of py_client.py against
// a peer server that speaks the command protocol of py_server.py / node_server.js, and exits 1
// at the first mismatch, saying which one.
//
// The client runs on its own event loop thread; the scenarios run on the main thread and read
// the client's events from a queue, so they read top to bottom like the Python peer's.
//
// Usage: wsx_interop_client --url URL [--ca FILE] [--deflate SPEC] [--expect-deflate SPEC]
//                           [--subprotocol-offer a,b --subprotocol-expect NAME]
//                           [--large-size BYTES]
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"

namespace {

using namespace std::chrono_literals;

struct Mismatch : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(bool condition, const std::string& what) {
  if (!condition) throw Mismatch(what);
}

enum class EventType { open, message, ping, pong, close, error, done };

struct Event {
  EventType type = EventType::done;
  wsx::MessageKind kind = wsx::MessageKind::text;
  std::string data;  // message / ping / pong payload, close reason, error message
  std::uint16_t code = 0;
  bool clean = false;
  wsx::ClientError error;
};

const char* name_of(EventType type) {
  static const char* names[] = {"open", "message", "ping", "pong", "close", "error", "done"};
  return names[static_cast<int>(type)];
}

std::string pattern_text(std::size_t size, int salt = 0) {
  static const std::string alphabet =
      "abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    text[i] = alphabet[(i * 7 + i / 91 + static_cast<std::size_t>(salt)) % alphabet.size()];
  }
  return text;
}

std::string pattern_bytes(std::size_t size, int salt = 0) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    data[i] = static_cast<char>(((i * 13) ^ (i >> 8) ^ static_cast<std::size_t>(salt)) & 0xff);
  }
  return data;
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// One client connection on its own loop thread, observed through a queue of events.
class Connection {
 public:
  explicit Connection(wsx::ClientOptions options) {
    thread_ =
        std::thread([this, options = std::move(options)]() mutable { run(std::move(options)); });
    loop_ready_.wait(false);
  }
  ~Connection() {
    loop_->post([this] { loop_->stop(); });
    thread_.join();
  }

  // Runs `task` with the open WebSocket on the loop thread.
  void with(std::function<void(wsx::WebSocket&)> task) {
    loop_->post([this, task = std::move(task)] {
      if (wsx::WebSocket* ws = client_->socket()) task(*ws);
    });
  }
  void send(const std::string& data, wsx::MessageKind kind) {
    with([data, kind](wsx::WebSocket& ws) { ws.send(bytes_of(data), kind); });
  }

  Event next(std::chrono::milliseconds timeout = 30s) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [this] { return !events_.empty(); })) {
      throw Mismatch("no event within " + std::to_string(timeout.count()) + " ms");
    }
    Event event = std::move(events_.front());
    events_.pop_front();
    return event;
  }
  // The next event that is not a ping (pings are answered automatically).
  Event next_no_ping() {
    for (;;) {
      Event event = next();
      if (event.type != EventType::ping) return event;
    }
  }

  void expect_open() {
    Event event = next();
    if (event.type == EventType::error) throw Mismatch("connect failed: " + event.data);
    check(event.type == EventType::open, std::string("expected open, got ") + name_of(event.type));
  }
  void expect_message(const std::string& data, wsx::MessageKind kind, const std::string& what) {
    Event event = next_no_ping();
    check(event.type == EventType::message,
          what + ": expected a message, got " + name_of(event.type) + " " + event.data);
    check(event.kind == kind, what + ": wrong message kind");
    check(event.data.size() == data.size(), what + ": size " + std::to_string(event.data.size()) +
                                                ", expected " + std::to_string(data.size()));
    check(event.data == data, what + ": content differs");
  }

  std::optional<wsx::proto::DeflateParams> deflate;
  std::string subprotocol;

 private:
  void push(Event event) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(std::move(event));
    }
    cv_.notify_one();
  }

  void run(wsx::ClientOptions options) {
    wsx::io::EventLoop loop;
    wsx::ClientHandlers handlers;
    handlers.open = [this](wsx::WebSocket& ws) {
      deflate = client_->deflate();
      subprotocol = std::string(ws.subprotocol());
      push({EventType::open});
    };
    handlers.message = [this](wsx::WebSocket&, wsx::Message message) {
      push({EventType::message, message.kind, std::string(message.text())});
    };
    handlers.ping = [this](wsx::WebSocket&, std::span<const std::uint8_t> payload) {
      push({EventType::ping,
            {},
            std::string(reinterpret_cast<const char*>(payload.data()), payload.size())});
    };
    handlers.pong = [this](wsx::WebSocket&, std::span<const std::uint8_t> payload) {
      push({EventType::pong,
            {},
            std::string(reinterpret_cast<const char*>(payload.data()), payload.size())});
    };
    handlers.close = [this](wsx::WebSocket&, const wsx::CloseInfo& info) {
      push({EventType::close, {}, std::string(info.reason), info.code, info.clean});
    };
    handlers.error = [this](const wsx::ClientError& error) {
      push({EventType::error, {}, error.message, 0, false, error});
    };
    handlers.done = [this] { push({EventType::done}); };
    wsx::Client client(loop, std::move(options), std::move(handlers));
    client_ = &client;
    loop_ = &loop;
    loop_ready_ = true;
    loop_ready_.notify_all();
    try {
      client.connect();
    } catch (const std::exception& error) {
      push({EventType::error, {}, error.what()});
    }
    loop.run();
    client_ = nullptr;
  }

  std::thread thread_;
  wsx::io::EventLoop* loop_ = nullptr;
  wsx::Client* client_ = nullptr;
  std::atomic<bool> loop_ready_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Event> events_;
};

struct Arguments {
  std::string url;
  std::string ca;
  std::string deflate = "off";
  std::string expect_deflate;
  std::string subprotocol_offer;
  std::string subprotocol_expect;
  // The largest echoed message: 16 MiB unless the test asks for less (see CMakeLists.txt).
  std::size_t large_size = 16u * 1024 * 1024;
};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    std::size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// "off" → nullopt; "on" or "name[=value],..." → the offer.
std::optional<wsx::proto::DeflateClientOptions> parse_deflate(const std::string& spec) {
  if (spec.empty() || spec == "off") return std::nullopt;
  wsx::proto::DeflateClientOptions options;
  if (spec == "on") return options;
  for (const std::string& item : split(spec, ',')) {
    const std::size_t equals = item.find('=');
    const std::string name = item.substr(0, equals);
    const int value = equals == std::string::npos ? -1 : std::stoi(item.substr(equals + 1));
    if (name == "client_no_context_takeover") {
      options.client_no_context_takeover = true;
    } else if (name == "server_no_context_takeover") {
      options.server_no_context_takeover = true;
    } else if (name == "client_max_window_bits") {
      options.client_max_window_bits = static_cast<std::uint8_t>(value < 0 ? 16 : value);
    } else if (name == "no_client_max_window_bits") {
      options.client_max_window_bits = 0;
    } else if (name == "server_max_window_bits") {
      options.server_max_window_bits = static_cast<std::uint8_t>(value);
    } else {
      throw std::invalid_argument("unknown deflate parameter " + name);
    }
  }
  return options;
}

wsx::ClientOptions client_options(const Arguments& args, const std::string& url) {
  wsx::ClientOptions options;
  options.url = url;
  options.origin = "http://interop.test";
  options.deflate = parse_deflate(args.deflate);
  options.tls.ca_file = args.ca;
  options.websocket.max_message_size = 32 * 1024 * 1024;
  options.websocket.max_backpressure = 64 * 1024 * 1024;
  options.connect_timeout = 10s;
  options.handshake_timeout = 10s;
  return options;
}

void check_negotiated(const Arguments& args, const Connection& connection) {
  const bool offered = parse_deflate(args.deflate).has_value();
  if (!offered) {
    check(!connection.deflate, "deflate negotiated without an offer");
    return;
  }
  if (args.expect_deflate == "declined") {
    check(!connection.deflate, "deflate negotiated although the server should decline");
    return;
  }
  check(connection.deflate.has_value(), "deflate was offered but not negotiated");
  const wsx::proto::DeflateParams& params = *connection.deflate;
  std::printf(
      "negotiated: server_no_context_takeover=%d client_no_context_takeover=%d "
      "server_max_window_bits=%d client_max_window_bits=%d\n",
      params.server_no_context_takeover, params.client_no_context_takeover,
      params.server_max_window_bits, params.client_max_window_bits);
  for (const std::string& item : split(args.expect_deflate, ',')) {
    if (item.empty()) continue;
    const std::size_t equals = item.find('=');
    const std::string name = item.substr(0, equals);
    const int value = equals == std::string::npos ? 1 : std::stoi(item.substr(equals + 1));
    int actual = -1;
    if (name == "server_no_context_takeover") actual = params.server_no_context_takeover;
    if (name == "client_no_context_takeover") actual = params.client_no_context_takeover;
    if (name == "server_max_window_bits") actual = params.server_max_window_bits;
    if (name == "client_max_window_bits") actual = params.client_max_window_bits;
    check(actual == value, "negotiated " + name + "=" + std::to_string(actual) + ", expected " +
                               std::to_string(value));
  }
}

// The frame-length boundaries of RFC 6455 §5.2 and one large message.
void echo_sizes(Connection& c, std::size_t large_size) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{125}, std::size_t{126},
                           std::size_t{65535}, std::size_t{65536}, large_size}) {
    const std::string text = pattern_text(size, static_cast<int>(size % 7));
    c.send(text, wsx::MessageKind::text);
    c.expect_message(text, wsx::MessageKind::text, "text " + std::to_string(size));
    const std::string data = pattern_bytes(size, static_cast<int>(size % 5));
    c.send(data, wsx::MessageKind::binary);
    c.expect_message(data, wsx::MessageKind::binary, "binary " + std::to_string(size));
  }
  const std::string unicode = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80";
  c.send(unicode, wsx::MessageKind::text);
  c.expect_message(unicode, wsx::MessageKind::text, "UTF-8 text");
}

void fragmented(Connection& c) {
  // Split inside the two-byte "é" and the three-byte "€": only the whole message must be UTF-8.
  const std::string text = "fragment \xc3\xa9\xe2\x82\xac two";
  c.with([text](wsx::WebSocket& ws) {
    const auto all = bytes_of(text);
    ws.send_fragment(all.first(10), wsx::MessageKind::text, false);
    ws.send_fragment(all.subspan(10, 0), wsx::MessageKind::text, false);
    ws.send_fragment(all.subspan(10, 2), wsx::MessageKind::text, false);
    ws.send_fragment(all.subspan(12), wsx::MessageKind::text, true);
  });
  c.expect_message(text, wsx::MessageKind::text, "fragmented text");
  const std::string binary = pattern_bytes(70'010, 1);
  c.with([binary](wsx::WebSocket& ws) {
    const auto all = bytes_of(binary);
    ws.send_fragment(all.first(70'000), wsx::MessageKind::binary, false);
    ws.ping(bytes_of("between fragments"));  // control frames may interleave (RFC 6455 §5.4)
    ws.send_fragment(all.subspan(70'000), wsx::MessageKind::binary, true);
  });
  Event pong = c.next_no_ping();
  check(pong.type == EventType::pong && pong.data == "between fragments",
        "pong for the ping between fragments");
  c.expect_message(binary, wsx::MessageKind::binary, "fragmented binary");
}

void pings(Connection& c) {
  for (const std::string& payload :
       {std::string("interop-ping"), std::string(), pattern_bytes(125)}) {
    c.with([payload](wsx::WebSocket& ws) { ws.ping(bytes_of(payload)); });
    Event event = c.next_no_ping();
    check(event.type == EventType::pong,
          std::string("expected a pong, got ") + name_of(event.type));
    check(event.data == payload, "pong payload differs");
  }
}

void ordering(Connection& c) {
  c.with([](wsx::WebSocket& ws) {
    for (int i = 0; i < 200; ++i) ws.send("message " + std::to_string(i));
  });
  for (int i = 0; i < 200; ++i) {
    c.expect_message("message " + std::to_string(i), wsx::MessageKind::text,
                     "ordering " + std::to_string(i));
  }
}

void repeated_compressible(Connection& c) {
  const std::string text = pattern_text(20'000, 3);
  for (int i = 0; i < 5; ++i) {
    c.send(text + std::to_string(i), wsx::MessageKind::text);
    c.expect_message(text + std::to_string(i), wsx::MessageKind::text,
                     "repeated " + std::to_string(i));
  }
}

void command(Connection& c, const std::string& text, const std::string& expected) {
  c.send(text, wsx::MessageKind::text);
  c.expect_message(expected, wsx::MessageKind::text, text);
}

void server_commands(Connection& c, const Arguments& args) {
  c.send("!ping from-server", wsx::MessageKind::text);
  Event ping = c.next();
  check(ping.type == EventType::ping && ping.data == "from-server", "server ping not seen");
  c.expect_message("!pong from-server", wsx::MessageKind::text, "server ping answered");
  struct Fragments {
    const char* kind;
    int count;
    std::size_t size;
  };
  for (const Fragments& f :
       {Fragments{"text", 3, 10}, Fragments{"binary", 4, 70'000}, Fragments{"text", 2, 0}}) {
    const bool text = std::strcmp(f.kind, "text") == 0;
    c.send("!fragments " + std::string(f.kind) + " " + std::to_string(f.count) + " " +
               std::to_string(f.size),
           wsx::MessageKind::text);
    c.expect_message(text ? pattern_text(f.size) : pattern_bytes(f.size),
                     text ? wsx::MessageKind::text : wsx::MessageKind::binary,
                     "server fragments " + std::string(f.kind));
  }
  command(c, "!header Origin", "!header http://interop.test");
  c.send("!extensions", wsx::MessageKind::text);
  Event extensions = c.next_no_ping();
  std::printf("server says: %s\n", extensions.data.c_str());
  check((extensions.data.find("permessage-deflate") != std::string::npos) == c.deflate.has_value(),
        "server's extensions disagree with ours: " + extensions.data);
  (void)args;
}

// `reason` nullptr: not checked (an answering close frame need not echo the reason).
void expect_close(Connection& c, std::uint16_t code, const char* reason, const std::string& what) {
  Event event = c.next_no_ping();
  check(event.type == EventType::close, what + ": expected close, got " + name_of(event.type));
  check(event.code == code,
        what + ": code " + std::to_string(event.code) + ", expected " + std::to_string(code));
  check(reason == nullptr || event.data == reason, what + ": reason \"" + event.data + "\"");
  check(event.clean, what + ": not clean");
  check(c.next().type == EventType::done, what + ": done");
}

std::string with_query(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

std::string origin_of(const std::string& url) {
  const std::size_t slash = url.find('/', url.find("://") + 3);
  return slash == std::string::npos ? url : url.substr(0, slash);
}

void run(const Arguments& args) {
  std::mt19937_64 random(std::random_device{}());
  const std::string id = std::to_string(random());
  {
    Connection c(client_options(args, with_query(args.url, "id=" + id)));
    c.expect_open();
    check_negotiated(args, c);
    echo_sizes(c, args.large_size);
    fragmented(c);
    pings(c);
    ordering(c);
    repeated_compressible(c);
    server_commands(c, args);
    c.with([](wsx::WebSocket& ws) { ws.close(4001, "bye \xc3\xa9"); });
    expect_close(c, 4001, nullptr, "our close echoed");
  }
  {
    Connection c(client_options(args, args.url));
    c.expect_open();
    command(c, "!lastclose " + id, "!lastclose 4001 bye \xc3\xa9");
    c.send("!close 4002 server says bye", wsx::MessageKind::text);
    expect_close(c, 4002, "server says bye", "server close");
  }
  if (!args.subprotocol_offer.empty()) {
    wsx::ClientOptions options = client_options(args, args.url);
    options.subprotocols = split(args.subprotocol_offer, ',');
    Connection c(options);
    c.expect_open();
    check(c.subprotocol == args.subprotocol_expect,
          "subprotocol \"" + c.subprotocol + "\", expected \"" + args.subprotocol_expect + "\"");
    command(c, "!subprotocol", "!subprotocol " + args.subprotocol_expect);
    c.with([](wsx::WebSocket& ws) { ws.close(); });
    Event event = c.next_no_ping();
    check(event.type == EventType::close && event.code == 1000, "close after subprotocol");
  }
  {
    Connection c(client_options(args, origin_of(args.url) + "/reject/403"));
    Event event = c.next();
    check(event.type == EventType::error, std::string("refusal: got ") + name_of(event.type));
    check(event.error.kind == wsx::ClientErrorKind::handshake_refused,
          "refusal kind: " + event.error.message);
    check(event.error.status == 403, "refused with " + std::to_string(event.error.status));
    bool header = false;
    for (const auto& [name, value] : event.error.headers) {
      header |= (name == "X-Reject" || name == "x-reject") && value == "interop";
    }
    check(header, "X-Reject header of the refusal");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--url")
      args.url = value;
    else if (flag == "--ca")
      args.ca = value;
    else if (flag == "--deflate")
      args.deflate = value;
    else if (flag == "--expect-deflate")
      args.expect_deflate = value;
    else if (flag == "--subprotocol-offer")
      args.subprotocol_offer = value;
    else if (flag == "--subprotocol-expect")
      args.subprotocol_expect = value;
    else if (flag == "--large-size")
      args.large_size = std::stoul(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (args.url.empty()) {
    std::fprintf(stderr, "usage: %s --url URL [--ca FILE] [--deflate SPEC] ...\n", argv[0]);
    return 2;
  }
  try {
    run(args);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "MISMATCH: %s\n", error.what());
    return 1;
  }
  std::printf("all scenarios passed\n");
  return 0;
}
