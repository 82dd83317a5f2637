#include "connect_printer.hpp"

#include <strings.h>

#include <charconv>
#include <string>

#include "body_excerpt.hpp"
#include "client_error_hint.hpp"
#include "connect_codecs.hpp"
#include "connect_json.hpp"
#include "frame_trace.hpp"
#include "wsx/proto/utf8.hpp"

namespace wsx::tool {
namespace {

constexpr const char* cyan = "\x1b[36m";
constexpr const char* green = "\x1b[32m";
constexpr const char* yellow = "\x1b[33m";
constexpr const char* red = "\x1b[31m";
constexpr const char* dim = "\x1b[2m";
constexpr const char* reset = "\x1b[0m";

double unix_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

JsonObject event(std::string_view name) {
  JsonObject object;
  object.add("event", name).add("time", unix_seconds());
  return object;
}

// A payload in JSON: "data" when it is text, "base64" otherwise.
void add_payload(JsonObject& object, std::span<const std::uint8_t> payload) {
  if (proto::is_valid_utf8(payload.data(), payload.size())) {
    object.add("data", as_text(payload));
  } else {
    object.add("base64", encode_base64(payload));
  }
}

// Stable names for scripts (describe() is prose for people).
std::string_view error_kind_name(ClientErrorKind kind) {
  switch (kind) {
    case ClientErrorKind::resolve_failed:
      return "resolve_failed";
    case ClientErrorKind::connect_failed:
      return "connect_failed";
    case ClientErrorKind::connect_timeout:
      return "connect_timeout";
    case ClientErrorKind::tls_failed:
      return "tls_failed";
    case ClientErrorKind::handshake_timeout:
      return "handshake_timeout";
    case ClientErrorKind::handshake_refused:
      return "handshake_refused";
    case ClientErrorKind::handshake_invalid:
      return "handshake_invalid";
    case ClientErrorKind::connection_lost:
      return "connection_lost";
    case ClientErrorKind::proxy_unreachable:
      return "proxy_unreachable";
    case ClientErrorKind::proxy_refused:
      return "proxy_refused";
    case ClientErrorKind::proxy_failed:
      return "proxy_failed";
    case ClientErrorKind::redirect_failed:
      return "redirect_failed";
  }
  return "unknown";
}

std::string headers_json(const HeaderList& headers) {
  std::string json = "[";
  for (const auto& [name, value] : headers) {
    if (json.size() > 1) json += ",";
    json += "[" + json_string(name) + "," + json_string(value) + "]";
  }
  return json + "]";
}

// The body's length as the response announced it (Content-Length), 0 when it did not: the
// client keeps at most max_error_body bytes, so the excerpt's "more bytes" counts from this.
std::size_t announced_length(const HeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (::strcasecmp(name.c_str(), "Content-Length") != 0) continue;
    std::size_t length = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (error == std::errc{} && end == value.data() + value.size()) return length;
  }
  return 0;
}

}  // namespace

void EventPrinter::emit_json(std::string json) {
  console_.out(json);
}

void EventPrinter::status(std::string_view text, const char* color) {
  std::string line;
  if (style_.color)
    line = std::string(color) + std::string(text) + reset;
  else
    line = text;
  if (style_.interactive && !style_.json)
    console_.out(line);
  else
    console_.err(line);
}

void EventPrinter::opened(std::string_view url, std::string_view subprotocol,
                          std::string_view extensions) {
  if (style_.json) {
    emit_json(event("open")
                  .add("url", url)
                  .add("subprotocol", subprotocol)
                  .add("extensions", extensions)
                  .str());
    return;
  }
  std::string text = "Connected to " + std::string(url);
  if (!subprotocol.empty()) text += " (subprotocol " + std::string(subprotocol) + ")";
  if (!extensions.empty()) text += " (extensions " + std::string(extensions) + ")";
  if (style_.interactive) text += " (type /help for commands)";
  status(text, green);
}

void EventPrinter::message(MessageKind kind, std::span<const std::uint8_t> data) {
  if (style_.json) {
    JsonObject object = event("message");
    if (kind == MessageKind::text) {
      object.add("type", "text").add("data", as_text(data));
    } else {
      object.add("type", "binary").add("base64", encode_base64(data));
    }
    emit_json(object.str());
    return;
  }
  if (style_.raw) {
    console_.out(as_text(data));
    return;
  }
  std::string line = style_.color ? std::string(cyan) + "<" + reset + " " : "< ";
  if (kind == MessageKind::text) {
    line += as_text(data);
  } else {
    line += "[binary " + std::to_string(data.size()) + " bytes] " + encode_hex(data);
  }
  console_.out(line);
}

void EventPrinter::control(bool outgoing, proto::Opcode opcode,
                           std::span<const std::uint8_t> payload) {
  if (style_.json) {
    JsonObject object = event(opcode_name(opcode));
    object.add("direction", outgoing ? "out" : "in");
    add_payload(object, payload);
    emit_json(object.str());
    return;
  }
  proto::FrameHeader header;
  header.opcode = opcode;
  header.payload_length = payload.size();
  std::string text = std::string(outgoing ? "> " : "< ") + std::string(opcode_name(opcode));
  const std::string preview = payload_preview(header, payload);
  if (!preview.empty()) text += " " + preview;
  status(text, dim);
}

void EventPrinter::closed(std::uint16_t code, std::string_view reason, bool clean) {
  if (style_.json) {
    emit_json(event("close").add("code", code).add("reason", reason).add("clean", clean).str());
    return;
  }
  std::string text = "Disconnected (code " + std::to_string(code);
  if (!reason.empty()) text += ", reason \"" + std::string(reason) + "\"";
  text += clean ? ")" : ", not clean)";
  const bool normal = clean && (code == 1000 || code == 1001 || code == 1005);
  status(text, normal ? yellow : red);
}

void EventPrinter::failed(const ClientError& error) {
  if (style_.json) {
    JsonObject object = event("error");
    object.add("kind", error_kind_name(error.kind)).add("message", error.message);
    if (!error.address.empty()) object.add("address", error.address);
    if (error.status != 0) {
      object.add("status", error.status)
          .add("reason", error.reason)
          .add_json("headers", headers_json(error.headers))
          .add("body", error.body);
    }
    if (error.socks_reply != 0) object.add("socks_reply", error.socks_reply);
    emit_json(object.str());
    return;
  }
  // Errors always go to stderr, even when the prompt is gone.
  std::string text = style_.color ? std::string(red) + "error: " + reset : "error: ";
  text += error.message + client_error_hint(error);
  if (error.kind == ClientErrorKind::handshake_refused ||
      error.kind == ClientErrorKind::redirect_failed ||
      (error.kind == ClientErrorKind::proxy_refused && error.status != 0) ||
      (error.kind == ClientErrorKind::handshake_invalid && error.status != 0)) {
    text += "\nHTTP/1.1 " + std::to_string(error.status) + " " + error.reason;
    for (const auto& [name, value] : error.headers) text += "\n" + name + ": " + value;
    if (!error.body.empty()) {
      text += "\n\n" + body_excerpt(error.body, announced_length(error.headers));
    }
    if (error.kind == ClientErrorKind::handshake_refused && error.status >= 300 &&
        error.status < 400 && error.message.find("not followed") != std::string::npos)
      text += "\n(-L follows redirects)";
  }
  console_.err(text);
}

void EventPrinter::frame(bool outgoing, const proto::FrameHeader& header,
                         std::span<const std::uint8_t> payload) {
  if (style_.json) {
    JsonObject object = event("frame");
    object.add("direction", outgoing ? "out" : "in")
        .add("opcode", opcode_name(header.opcode))
        .add("fin", header.fin)
        .add("rsv1", header.rsv1)
        .add("rsv2", header.rsv2)
        .add("rsv3", header.rsv3)
        .add("masked", header.masked)
        .add("length", static_cast<std::int64_t>(header.payload_length))
        .add("preview", payload_preview(header, payload));
    emit_json(object.str());
    return;
  }
  status(clock_time(std::chrono::system_clock::now()) + " " +
             describe_frame(outgoing, header, payload),
         dim);
}

void EventPrinter::handshake(bool outgoing, std::string_view head) {
  if (style_.json) {
    emit_json(event("handshake").add("direction", outgoing ? "out" : "in").add("head", head).str());
    return;
  }
  // One line per header line, each with the time and direction of the head.
  const std::string prefix =
      clock_time(std::chrono::system_clock::now()) + (outgoing ? " > " : " < ");
  std::string text;
  while (!head.empty()) {
    const std::size_t end = head.find('\n');
    std::string_view line = head.substr(0, end);
    head = end == std::string_view::npos ? std::string_view() : head.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (!text.empty()) text += "\n";
    text += prefix + std::string(line);
  }
  status(text, dim);
}

void EventPrinter::redirect(int status, std::string_view url) {
  if (style_.json) {
    emit_json(event("redirect").add("status", status).add("url", url).str());
    return;
  }
  this->status(clock_time(std::chrono::system_clock::now()) + " redirect (HTTP " +
                   std::to_string(status) + ") to " + std::string(url),
               dim);
}

void EventPrinter::http2_fallback(std::string_view summary) {
  if (style_.json) {
    emit_json(event("http2").add("fallback", summary).str());
    return;
  }
  status(clock_time(std::chrono::system_clock::now()) + " " + std::string(summary), dim);
}

void EventPrinter::tunnel(std::string_view summary) {
  if (style_.json) {
    emit_json(event("proxy").add("tunnel", summary).str());
    return;
  }
  status(clock_time(std::chrono::system_clock::now()) + " " + std::string(summary), dim);
}

void EventPrinter::notice(std::string_view text) {
  status(text, yellow);
}

void EventPrinter::problem(std::string_view text) {
  if (style_.interactive) {
    status(text, red);
  } else {
    console_.err(style_.color ? std::string(red) + std::string(text) + reset : std::string(text));
  }
}

}  // namespace wsx::tool
