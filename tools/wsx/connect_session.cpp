#include "connect_session.hpp"

#include <unistd.h>

#include <strings.h>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "commands.hpp"
#include "connect_codecs.hpp"
#include "connect_console.hpp"
#include "connect_line_editor.hpp"
#include "connect_printer.hpp"
#include "connect_prompt.hpp"
#include "connect_stdin.hpp"
#include "connect_typed_url.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/signal_watcher.hpp"
#include "wsx/proto/utf8.hpp"

namespace wsx::tool {
namespace {

// A proxy URL as typed, for a message, without the password: "http://alice@proxy:3128" for
// "http://alice:secret@proxy:3128". Works on text that does not parse (that is when it is
// shown), so it only looks for the last "@" before the path, as the URL parser does.
std::string proxy_url_without_password(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  const std::size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const std::size_t end = std::min(url.size(), url.find_first_of("/?#", start));
  const std::size_t at = url.substr(0, end).rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(url);
  const std::size_t colon = url.substr(start, at - start).find(':');
  if (colon == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, start + colon)) + std::string(url.substr(at));
}

enum class Mode { execute, echo, interactive, pipe };

// Sends to whichever console is current: the line editor while the prompt is up.
class SwitchConsole final : public Console {
 public:
  explicit SwitchConsole(Console& initial) : target(&initial) {}
  void out(std::string_view text) override { target->out(text); }
  void err(std::string_view text) override { target->err(text); }
  Console* target;
};

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return std::string(text);
}

std::string seconds_text(std::chrono::milliseconds delay) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(delay.count()) / 1000.0);
  return text;
}

// `seconds` is at most connect_command.cpp's max_seconds (the options' checks).
std::chrono::milliseconds to_millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

ClientOptions client_options(const ConnectSettings& settings) {
  ClientOptions options;
  const TypedUrl typed = interpret_typed_url(settings.url);
  options.url = typed.url;
  if (typed.subprotocol) options.subprotocols.push_back(*typed.subprotocol);
  for (const std::string& subprotocol : settings.subprotocols) {
    if (subprotocol != typed.subprotocol) options.subprotocols.push_back(subprotocol);
  }
  if (!settings.origin.empty()) options.origin = settings.origin;
  for (const std::string& header : settings.headers) {
    const std::size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      throw std::invalid_argument("a header is \"Name: value\", not \"" + header + "\"");
    }
    options.extra_headers.emplace_back(trim(header.substr(0, colon)),
                                       trim(header.substr(colon + 1)));
  }
  if (!settings.auth.empty() && settings.auth.find(':') == std::string::npos) {
    throw std::invalid_argument("--auth takes user:password");
  }
  // --auth wins over credentials in the URL.
  const std::string credentials =
      !settings.auth.empty() ? settings.auth : typed.credentials.value_or("");
  if (!credentials.empty()) {
    options.extra_headers.emplace_back("Authorization",
                                       "Basic " + encode_base64(as_bytes(credentials)));
  }
  const bool user_agent_given = std::any_of(
      options.extra_headers.begin(), options.extra_headers.end(),
      [](const auto& header) { return ::strcasecmp(header.first.c_str(), "User-Agent") == 0; });
  if (!user_agent_given) options.extra_headers.emplace_back("User-Agent", "wsx/" WSX_VERSION);
  if (settings.compress) {
    proto::DeflateClientOptions deflate;
    deflate.client_no_context_takeover = settings.client_no_context_takeover;
    deflate.server_no_context_takeover = settings.server_no_context_takeover;
    deflate.client_max_window_bits =
        settings.client_max_window_bits != 0
            ? static_cast<std::uint8_t>(settings.client_max_window_bits)
            : 16;
    deflate.server_max_window_bits = static_cast<std::uint8_t>(settings.server_max_window_bits);
    options.deflate = deflate;
  }
  options.tls.ca_file = settings.ca_file;
  options.tls.insecure_skip_verify = settings.insecure;
  options.tls.certificate_chain_file = settings.cert_file;
  options.tls.private_key_file = settings.key_file;
  if (settings.cert_file.empty() != settings.key_file.empty()) {
    throw std::invalid_argument("--cert and --key go together");
  }
  // --proxy wins; else the environment's, as curl reads it (a URL that does not parse is
  // reported by connect()).
  if (!settings.proxy.empty()) {
    options.proxy = settings.proxy;
  } else {
    // Asked again for each redirect's URL: ws:// and wss:// hops take different variables.
    options.proxy_for = [](const Url& target) {
      std::string proxy = proxy_from_environment(target);
      // Said here, so the user looks at the environment rather than at the command line.
      if (!proxy.empty() && !parse_proxy_url(proxy).ok()) {
        throw std::invalid_argument("the proxy from the environment, \"" +
                                    proxy_url_without_password(proxy) +
                                    "\": " + parse_proxy_url(proxy).error);
      }
      return proxy;
    };
  }
  options.http2 = settings.http2;
  options.follow_redirects = settings.location;
  options.max_redirects = settings.max_redirects;
  options.connect_timeout = to_millis(settings.connect_timeout);
  options.handshake_timeout = to_millis(settings.connect_timeout);
  options.websocket.max_message_size = settings.max_message;
  options.reconnect.enabled = settings.reconnect;
  // Room for a whole stdin line of --max-message on top of what waits: a line is never dropped
  // for want of buffer (stdin pauses while the server is behind).
  options.websocket.max_backpressure =
      std::max<std::size_t>(options.websocket.max_backpressure, 2 * settings.max_message + 65536);
  return options;
}

std::string header_value(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), name.size()) == 0) {
      return value;
    }
  }
  return {};
}

bool normal_close_code(std::uint16_t code) {
  return code == 1000 || code == 1001 || code == 1005;  // 1005: a close frame without a code
}

class Runner final : public proto::FrameObserver {
 public:
  explicit Runner(const ConnectSettings& settings)
      : settings_(settings),
        mode_(choose_mode(settings)),
        console_(plain_),
        printer_(console_, style(settings, mode_)),
        signals_(loop_, {SIGINT, SIGTERM}, [this](int) { on_signal(); }) {}

  int run() {
    ClientOptions options = client_options(settings_);
    if (settings_.trace || settings_.show_ping_pong) options.websocket.frame_observer = this;
    if (settings_.trace) {
      options.handshake_trace.request = [this](std::string_view head) {
        printer_.handshake(true, head);
      };
      options.handshake_trace.response = [this](std::string_view head) {
        printer_.handshake(false, head);
      };
      options.handshake_trace.redirect = [this](int status, std::string_view url) {
        printer_.redirect(status, url);
      };
      options.handshake_trace.proxy = [this](std::string_view summary) {
        printer_.tunnel(summary);
      };
      options.handshake_trace.http2_fallback = [this](std::string_view summary) {
        printer_.http2_fallback(summary);
      };
    }
    client_ = std::make_unique<Client>(loop_, std::move(options), handlers());
    client_->connect();  // throws for a bad URL or options
    loop_.run();
    reader_.reset();
    editor_.reset();
    return exit_code();
  }

  void on_frame(bool outgoing, const proto::FrameHeader& header,
                std::span<const std::uint8_t> payload) override {
    if (settings_.trace) {
      printer_.frame(outgoing, header, payload);
    } else if (outgoing && settings_.show_ping_pong &&
               (header.opcode == proto::Opcode::ping || header.opcode == proto::Opcode::pong)) {
      printer_.control(true, header.opcode, payload);
    }
  }

 private:
  static Mode choose_mode(const ConnectSettings& settings) {
    if (!settings.execute.empty()) return Mode::execute;
    if (settings.echo) return Mode::echo;
    if (::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO)) return Mode::interactive;
    return Mode::pipe;
  }

  static PrinterStyle style(const ConnectSettings& settings, Mode mode) {
    PrinterStyle style;
    style.json = settings.json;
    style.raw = settings.raw;
    style.interactive = mode == Mode::interactive;
    const char* term = std::getenv("TERM");
    style.color = !settings.json && !settings.no_color && ::isatty(STDOUT_FILENO) &&
                  std::getenv("NO_COLOR") == nullptr &&
                  !(term != nullptr && std::string_view(term) == "dumb");
    return style;
  }

  ClientHandlers handlers() {
    ClientHandlers h;
    h.open = [this](WebSocket& ws) { on_open(ws); };
    h.message = [this](WebSocket& ws, Message message) {
      printer_.message(message.kind, message.data);
      if (settings_.echo) ws.send(message.data, message.kind);
    };
    h.drain = [this](WebSocket&) {
      if (reader_) reader_->resume();
    };
    h.ping = [this](WebSocket&, std::span<const std::uint8_t> payload) {
      if (show_received_control()) printer_.control(false, proto::Opcode::ping, payload);
    };
    h.pong = [this](WebSocket&, std::span<const std::uint8_t> payload) {
      // A /ping typed at the prompt asks for its pong: it is shown without -P too (the pong
      // frame is already in the --trace output).
      const bool asked = prompt_pings_ > 0;
      if (asked) --prompt_pings_;
      if (show_received_control() || (asked && !settings_.trace)) {
        printer_.control(false, proto::Opcode::pong, payload);
      }
    };
    h.close = [this](WebSocket&, const CloseInfo& info) { on_close(info); };
    h.error = [this](const ClientError& error) {
      error_ = error;
      failed_last_ = !error.will_retry;
      printer_.failed(error);
      if (error.will_retry) {
        printer_.notice("reconnecting in " + seconds_text(error.retry_in) + " (--reconnect)");
      }
    };
    h.done = [this] {
      done_ = true;
      // Not from inside a callback of the editor or the reader: they go on the next turn.
      loop_.post([this] {
        reader_.reset();
        console_.target = &plain_;
        editor_.reset();
        loop_.stop();
      });
    };
    return h;
  }

  bool show_received_control() const {
    return settings_.json || (settings_.show_ping_pong && !settings_.trace);
  }

  void on_open(WebSocket& ws) {
    const bool again = opened_;
    opened_ = true;
    closed_ = false;
    failed_last_ = false;
    we_closed_ = false;
    prompt_pings_ = 0;  // --reconnect: pongs of the lost connection will not come
    printer_.opened(client_->url().to_string(), ws.subprotocol(),
                    header_value(client_->response_headers(), "Sec-WebSocket-Extensions"));
    switch (mode_) {
      case Mode::execute:
        for (const std::string& message : settings_.execute)
          send(MessageKind::text, as_bytes(message));
        wait_then_close(settings_.wait.value_or(default_execute_wait));
        return;
      case Mode::echo:
        return;
      case Mode::interactive:
        if (again) return;  // --reconnect: the prompt stayed up meanwhile
        editor_ = std::make_unique<LineEditor>(
            "> ", [this](std::optional<std::string> line) { on_prompt_line(std::move(line)); });
        console_.target = editor_.get();
        reader_ = std::make_unique<StdinReader>(loop_, [this] {
          if (editor_) editor_->on_input();
        });
        reader_->start();
        return;
      case Mode::pipe:
        start_pipe();
        return;
    }
  }

  void start_pipe() {
    if (reader_) {  // reconnected: the line refused by the lost connection first, then stdin
      if (held_line_) {
        const auto [kind, line] = std::move(*held_line_);
        held_line_.reset();
        send(kind, as_bytes(line));
      }
      reader_->resume();
      return;
    }
    StdinReader::Framing framing;
    framing.whole = settings_.whole;
    framing.strip_cr = !settings_.binary;
    framing.limit = settings_.max_message;
    reader_ = std::make_unique<StdinReader>(
        loop_,
        StdinReader::Handlers{
            .line = [this](std::string_view line) { on_stdin_line(line); },
            .end = [this] { wait_then_close(settings_.wait.value_or(0)); },
            .too_long =
                [this] {
                  refuse_input((settings_.whole ? std::string("stdin")
                                                : "stdin line " + std::to_string(lines_ + 1)) +
                               " is longer than --max-message (" +
                               std::to_string(settings_.max_message) + " bytes)");
                },
        },
        framing);
    reader_->start();
  }

  void on_stdin_line(std::string_view line) {
    ++lines_;
    if (settings_.binary) {
      send(MessageKind::binary, as_bytes(line));
      return;
    }
    if (!proto::is_valid_utf8(reinterpret_cast<const std::uint8_t*>(line.data()), line.size())) {
      refuse_input(
          (settings_.whole ? std::string("stdin") : "stdin line " + std::to_string(lines_)) +
          " is not valid UTF-8, which a text message must be (-b sends binary)");
      return;
    }
    send(MessageKind::text, as_bytes(line));
  }

  // Input that cannot be sent as it is stops the input: what follows is not sent either (a
  // conversation with a hole in it is worse than one cut short), and the exit code says so.
  void refuse_input(const std::string& why) {
    input_refused_ = true;
    if (reader_) reader_->stop();
    printer_.problem("wsx connect: " + why + ": not sent, nor anything after it");
    start_close(1000, {});
  }

  void wait_then_close(double seconds) {
    if (seconds <= 0) {
      start_close(1000, {});
      return;
    }
    loop_.run_after(to_millis(seconds), [this] { start_close(1000, {}); });
  }

  void send(MessageKind kind, std::span<const std::uint8_t> data) {
    WebSocket* ws = client_->socket();
    const SendStatus status = ws != nullptr ? ws->send(data, kind) : SendStatus::closed;
    switch (status) {
      case SendStatus::success:
        return;
      case SendStatus::backpressure:
        if (reader_) reader_->pause();  // resumed by the drain callback
        return;
      case SendStatus::dropped:
        if (mode_ == Mode::pipe) {
          refuse_input("stdin line " + std::to_string(lines_) +
                       " could not be queued: too much data is waiting for the server");
        } else {
          printer_.problem("not sent: too much data is waiting for the server");
        }
        return;
      case SendStatus::closed:
        if (interrupted_) return;  // lines read before Ctrl-C stopped stdin: left unsent
        if (mode_ == Mode::pipe && settings_.reconnect) {
          // Kept for the next connection, and stdin waits for it.
          held_line_.emplace(kind, std::string(as_text(data)));
          if (reader_) reader_->pause();
        } else if (mode_ == Mode::pipe) {
          refuse_input("stdin line " + std::to_string(lines_) +
                       " came after the connection started closing");
        } else {
          printer_.problem(settings_.reconnect && ws == nullptr
                               ? "not sent: not connected (reconnecting)"
                               : "not sent: the connection is closing");
        }
        return;
      case SendStatus::invalid:
        printer_.problem("not sent: invalid now (inside a fragmented message)");
        return;
    }
  }

  void on_prompt_line(std::optional<std::string> line) {
    if (!line) {
      start_close(1000, {});  // Ctrl-D
      return;
    }
    if (!proto::is_valid_utf8(*line)) {
      // The terminal sent bytes that are not UTF-8 (shown as U+FFFD): sending them would break
      // the text message, and replacing them would alter it.
      printer_.problem("not sent: the line is not valid UTF-8 (is the terminal's encoding UTF-8?)");
      return;
    }
    PromptAction action = parse_prompt_line(*line);
    switch (action.kind) {
      case PromptAction::send_text:
        send(MessageKind::text, as_bytes(action.text));
        return;
      case PromptAction::send_binary:
        send(MessageKind::binary, action.data);
        return;
      case PromptAction::ping: {
        WebSocket* ws = client_->socket();
        if (ws == nullptr || ws->ping(action.data) != SendStatus::success) {
          printer_.problem("ping not sent: the connection is closing");
        } else {
          ++prompt_pings_;
        }
        return;
      }
      case PromptAction::close:
        start_close(action.code, action.text);
        return;
      case PromptAction::quit:
        start_close(1000, {});
        return;
      case PromptAction::help:
        printer_.notice(prompt_help());
        return;
      case PromptAction::invalid:
        printer_.problem(action.text);
        return;
      case PromptAction::nothing:
        return;
    }
  }

  void start_close(std::uint16_t code, std::string_view reason) {
    WebSocket* ws = client_->socket();
    if (ws == nullptr) {
      client_->close(code, reason);  // still connecting: give up
      return;
    }
    const SendStatus status = ws->close(code, reason);
    if (status == SendStatus::invalid) {
      printer_.problem("cannot close with code " + std::to_string(code) +
                       (reason.empty() ? std::string() : " and that reason") + ": use " +
                       std::string(prompt_close_codes()));
      return;
    }
    if (status == SendStatus::success || status == SendStatus::backpressure) {
      we_closed_ = true;
      our_close_code_ = code;
    }
  }

  void on_close(const CloseInfo& info) {
    closed_ = true;
    close_code_ = info.code;
    close_reason_ = std::string(info.reason);
    clean_ = info.clean;
    printer_.closed(info.code, info.reason, info.clean);
    if (reader_ && mode_ == Mode::pipe && settings_.reconnect) {
      reader_->pause();  // stdin waits for the next connection, if one comes
    } else if (reader_ && mode_ == Mode::pipe) {
      reader_->stop();
    }
    if (settings_.reconnect) {
      // The client decides after this callback whether to reconnect (`done` if not).
      loop_.post([this] {
        if (!done_ && client_->socket() == nullptr) printer_.notice("reconnecting (--reconnect)");
      });
    }
  }

  void on_signal() {
    ++signals_seen_;
    WebSocket* ws = client_ ? client_->socket() : nullptr;
    if (signals_seen_ == 1 && ws != nullptr) {
      // The user asked to stop: stdin is not read any further. (It was, and every line that
      // came after our close was "refused" with exit 6, as if the input had been bad.)
      interrupted_ = true;
      if (reader_) reader_->stop();
      start_close(1000, {});
    } else if (ws != nullptr) {
      ws->terminate();  // a second Ctrl-C: do not wait for the server
    } else if (client_) {
      client_->close();
    }
  }

  int exit_code() const {
    if (!opened_ || failed_last_) {
      if (!error_) return exit_connect_failed;
      switch (error_->kind) {
        case ClientErrorKind::handshake_refused:
        case ClientErrorKind::redirect_failed:
          return exit_handshake_refused;
        case ClientErrorKind::proxy_unreachable:
        case ClientErrorKind::proxy_refused:
        case ClientErrorKind::proxy_failed:
          return exit_proxy_failed;
        default:
          return exit_connect_failed;
      }
    }
    // What the peer's close frame said decides, whoever closed first: a server that closes with
    // 1009 while our own close is on its way still rejected what we sent. Our own close only
    // counts when the peer answered it with the same code (a /close 4001 we asked for).
    if (!closed_ || !clean_) return exit_abnormal_close;
    const bool normal =
        normal_close_code(close_code_) || (we_closed_ && close_code_ == our_close_code_);
    if (!normal) return exit_abnormal_close;
    return input_refused_ ? exit_runtime_error : exit_ok;
  }

  const ConnectSettings& settings_;
  Mode mode_;
  io::EventLoop loop_;
  PlainConsole plain_;
  SwitchConsole console_;
  EventPrinter printer_;
  io::SignalWatcher signals_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<LineEditor> editor_;
  std::unique_ptr<StdinReader> reader_;
  bool opened_ = false;
  bool closed_ = false;
  bool clean_ = false;
  bool we_closed_ = false;
  std::uint16_t our_close_code_ = 1000;
  std::uint16_t close_code_ = 1006;
  std::string close_reason_;
  std::optional<ClientError> error_;
  int signals_seen_ = 0;
  bool done_ = false;         // the client has nothing more to do
  bool failed_last_ = false;  // the last attempt (after reconnects) failed to connect
  std::optional<std::pair<MessageKind, std::string>> held_line_;  // for the next connection
  std::size_t lines_ = 0;                                         // stdin lines read
  bool input_refused_ = false;
  bool interrupted_ = false;      // SIGINT/SIGTERM: we are closing, stdin is no longer read
  std::size_t prompt_pings_ = 0;  // /ping typed at the prompt whose pong has not come
};

}  // namespace

int run_connect(const ConnectSettings& settings) {
  Runner runner(settings);
  return runner.run();
}

}  // namespace wsx::tool
