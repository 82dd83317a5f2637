#include "wsx/error_report.hpp"

#include <cstdio>
#include <exception>
#include <string>

namespace wsx {

std::string_view describe(ErrorSource source) noexcept {
  switch (source) {
    case ErrorSource::callback:
      return "callback exception";
    case ErrorSource::tls_handshake:
      return "TLS handshake failed";
    case ErrorSource::signals:
      return "signal watcher failed";
    case ErrorSource::listener:
      return "accept failed";
  }
  return "error";
}

namespace {

// The message and the names come from exceptions and peers: a CR, LF or escape sequence in them
// must not forge a second log line or drive the terminal, so control bytes are written as \xNN.
void append_escaped(std::string& line, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      line += "\\x";
      line += hex[byte >> 4];
      line += hex[byte & 0xf];
    } else {
      line += c;
    }
  }
}

}  // namespace

std::string format_error_report(const ErrorReport& report) {
  std::string line = "wsx: ";
  if (report.source == ErrorSource::callback) {
    line += "exception in '";
    append_escaped(line, report.callback.empty() ? std::string_view("unknown") : report.callback);
    line += "' callback";
  } else {
    line += describe(report.source);
  }
  const bool has_route = !report.route.empty();
  const bool has_peer = !report.remote_address.empty();
  if (has_route || has_peer) {
    line += " (";
    if (has_route) {
      line += "route ";
      append_escaped(line, report.route);
    }
    if (has_route && has_peer) line += ", ";
    if (has_peer) {
      line += "peer ";
      append_escaped(line, report.remote_address);
    }
    line += ")";
  }
  if (!report.message.empty()) {
    line += ": ";
    append_escaped(line, report.message);
  }
  return line;
}

namespace {

void write_line(const ErrorReport& report) noexcept {
  try {
    std::string line = format_error_report(report);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  } catch (...) {
    std::fputs("wsx: an error occurred and could not be formatted\n", stderr);
  }
}

}  // namespace

void report_error(const ErrorHook& hook, const ErrorReport& report) noexcept {
  if (!hook) {
    write_line(report);
    return;
  }
  try {
    hook(report);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsx: the error hook threw (%s) while reporting:\n", e.what());
    write_line(report);
  } catch (...) {
    std::fputs("wsx: the error hook threw while reporting:\n", stderr);
    write_line(report);
  }
}

}  // namespace wsx
