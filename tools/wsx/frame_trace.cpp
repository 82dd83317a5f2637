#include "frame_trace.hpp"

#include <algorithm>
#include <ctime>

#include "connect_codecs.hpp"
#include "wsx/proto/utf8.hpp"

namespace wsx::tool {
namespace {

// Printable text: valid UTF-8 without control characters (tabs aside), so a preview never
// moves the cursor or rings the bell.
bool printable(std::string_view text) {
  if (!proto::is_valid_utf8(text)) return false;
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7F;
  });
}

// Cuts at most 3 bytes more so a UTF-8 character split by the preview limit is dropped whole.
std::string_view utf8_prefix(std::string_view text) {
  for (std::size_t cut = 0; cut < 4 && cut < text.size(); ++cut) {
    const std::string_view candidate = text.substr(0, text.size() - cut);
    if (proto::is_valid_utf8(candidate)) return candidate;
  }
  return text;
}

// A value in quotes: "-" when empty, hex when it is not printable (a hostile path or reason
// cannot forge a line).
std::string quoted(std::string_view value) {
  if (value.empty()) return "\"-\"";
  if (!printable(value) || value.find('"') != std::string_view::npos) {
    return "\"" + encode_hex({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()}) +
           "\"";
  }
  return "\"" + std::string(value) + "\"";
}

}  // namespace

std::string clock_time(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::snprintf(text, sizeof text, "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min, local.tm_sec,
                static_cast<int>(millis));
  return text;
}

std::string payload_preview(const proto::FrameHeader& header,
                            std::span<const std::uint8_t> payload) {
  if (header.opcode == proto::Opcode::close && payload.size() >= 2 &&
      payload.size() == header.payload_length) {
    const int code = payload[0] << 8 | payload[1];
    std::string text = "code=" + std::to_string(code);
    const std::string_view reason = as_text(payload.subspan(2));
    if (!reason.empty()) {
      text += " reason=\"" +
              (printable(reason) ? std::string(reason) : encode_hex(payload.subspan(2))) + "\"";
    }
    return text;
  }
  if (payload.empty()) return {};
  const bool cut = payload.size() > trace_preview_bytes || payload.size() < header.payload_length;
  std::span<const std::uint8_t> shown =
      payload.first(std::min(payload.size(), trace_preview_bytes));
  // Compressed payloads are deflate data, never text.
  std::string_view text = as_text(shown);
  if (cut) text = utf8_prefix(text);
  std::string preview;
  if (!header.rsv1 && printable(text)) {
    preview = "\"" + std::string(text) + "\"";
  } else {
    preview = encode_hex(shown);
  }
  if (cut) preview += "...";
  return preview;
}

std::string describe_frame(bool outgoing, const proto::FrameHeader& header,
                           std::span<const std::uint8_t> payload) {
  std::string line = outgoing ? "> " : "< ";
  line += opcode_name(header.opcode);
  line += " fin=";
  line += header.fin ? '1' : '0';
  line += " rsv=";
  line += header.rsv1 ? '1' : '0';
  line += header.rsv2 ? '1' : '0';
  line += header.rsv3 ? '1' : '0';
  line += " masked=";
  line += header.masked ? '1' : '0';
  line += " len=" + std::to_string(header.payload_length);
  const std::string preview = payload_preview(header, payload);
  if (!preview.empty()) line += " " + preview;
  return line;
}

std::string describe_open(std::string_view path, Transport transport, std::string_view subprotocol,
                          std::string_view extensions) {
  return "= open " + quoted(path) + " transport=" + std::string(transport_name(transport)) +
         " subprotocol=" + quoted(subprotocol) + " extensions=" + quoted(extensions);
}

std::string describe_close(const CloseInfo& info) {
  return "= closed code=" + std::to_string(info.code) + " clean=" + (info.clean ? "1" : "0") +
         " reason=" + quoted(info.reason);
}

}  // namespace wsx::tool
