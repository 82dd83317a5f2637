#include "bench_report.hpp"

#include <cstdio>

namespace wsx::tool {
namespace {

std::string printf_string(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

double microseconds(std::chrono::nanoseconds value) {
  return static_cast<double>(value.count()) / 1000.0;
}

}  // namespace

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

double BenchReport::messages_per_second() const {
  return elapsed_seconds > 0 ? static_cast<double>(messages) / elapsed_seconds : 0;
}

double BenchReport::megabytes_per_second() const {
  return elapsed_seconds > 0 ? static_cast<double>(bytes) / elapsed_seconds / 1e6 : 0;
}

// Whether the numbers are of compressed messages: an offer the server declines is not
// compression, and "offered" alone left that to guess.
std::string deflate_outcome(const BenchReport& report) {
  if (!report.compress) return {};
  if (report.opened == 0) return ", permessage-deflate offered";
  if (report.compressed == 0) return ", permessage-deflate offered, declined by the server";
  if (report.compressed == report.opened) return ", permessage-deflate";
  return ", permessage-deflate on " + std::to_string(report.compressed) + " of " +
         std::to_string(report.opened) + " connections";
}

std::string format_table(const BenchReport& report) {
  std::string out;
  auto row = [&out](const char* name, const std::string& value) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-14s %s\n", name, value.c_str());
    out += line;
  };
  out += "wsx bench " + report.url + "\n";
  row("connections", std::to_string(report.opened) + " of " + std::to_string(report.connections) +
                         " opened, " + std::to_string(report.in_flight) + " in flight each");
  row("messages", std::to_string(report.message_size) + " B " +
                      (report.binary ? "binary" : "text") + deflate_outcome(report));
  row("duration", printf_string("%.2f s", report.elapsed_seconds));
  row("echoes", std::to_string(report.messages));
  row("throughput", printf_string("%.0f msg/s", report.messages_per_second()) + ", " +
                        printf_string("%.2f MB/s", report.megabytes_per_second()));
  row("latency", printf_string("mean %.0f us", microseconds(report.latency.mean())) +
                     printf_string("  p50 %.0f us", microseconds(report.latency.percentile(0.50))) +
                     printf_string("  p90 %.0f us", microseconds(report.latency.percentile(0.90))) +
                     printf_string("  p99 %.0f us", microseconds(report.latency.percentile(0.99))) +
                     printf_string("  max %.0f us", microseconds(report.latency.max())));
  row("errors", std::to_string(report.errors));
  for (const std::string& message : report.error_messages) row("", message);
  std::string codes;
  for (const auto& [code, count] : report.close_codes) {
    if (!codes.empty()) codes += ", ";
    codes += std::to_string(code) + " x" + std::to_string(count);
  }
  row("close codes", codes.empty() ? "-" : codes);
  return out;
}

std::string format_json(const BenchReport& report) {
  std::string out = "{";
  out += "\"url\":" + json_quote(report.url);
  out += ",\"connections\":" + std::to_string(report.connections);
  out += ",\"opened\":" + std::to_string(report.opened);
  out += ",\"size\":" + std::to_string(report.message_size);
  out += std::string(",\"binary\":") + (report.binary ? "true" : "false");
  out += ",\"in_flight\":" + std::to_string(report.in_flight);
  out += std::string(",\"compress\":") + (report.compress ? "true" : "false");
  out += ",\"compressed\":" + std::to_string(report.compressed);
  out += ",\"duration_s\":" + printf_string("%.6f", report.elapsed_seconds);
  out += ",\"messages\":" + std::to_string(report.messages);
  out += ",\"bytes\":" + std::to_string(report.bytes);
  out += ",\"messages_per_s\":" + printf_string("%.1f", report.messages_per_second());
  out += ",\"mb_per_s\":" + printf_string("%.3f", report.megabytes_per_second());
  out += ",\"latency_us\":{";
  out += "\"mean\":" + printf_string("%.1f", microseconds(report.latency.mean()));
  out += ",\"p50\":" + printf_string("%.1f", microseconds(report.latency.percentile(0.50)));
  out += ",\"p90\":" + printf_string("%.1f", microseconds(report.latency.percentile(0.90)));
  out += ",\"p99\":" + printf_string("%.1f", microseconds(report.latency.percentile(0.99)));
  out += ",\"max\":" + printf_string("%.1f", microseconds(report.latency.max()));
  out += "}";
  out += ",\"errors\":" + std::to_string(report.errors);
  out += ",\"error_messages\":[";
  for (std::size_t i = 0; i < report.error_messages.size(); ++i) {
    out += (i > 0 ? "," : "") + json_quote(report.error_messages[i]);
  }
  out += "],\"close_codes\":{";
  bool first = true;
  for (const auto& [code, count] : report.close_codes) {
    out += (first ? "\"" : ",\"") + std::to_string(code) + "\":" + std::to_string(count);
    first = false;
  }
  out += "}}\n";
  return out;
}

}  // namespace wsx::tool
