#include "serve_error_log.hpp"

#include <cstdio>
#include <string_view>

namespace wsx::tool {
namespace {

void write_line(std::string line) {
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line: threads don't mix
}

}  // namespace

void ErrorLog::report(const ErrorReport& report) {
  std::string line = format_error_report(report);
  constexpr std::string_view library_prefix = "wsx: ";
  if (line.starts_with(library_prefix)) line.erase(0, library_prefix.size());
  line.insert(0, "wsx serve: ");
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (now - window_start_ >= std::chrono::seconds(1)) {
    write_summary_locked();
    window_start_ = now;
    lines_in_window_ = 0;
  }
  if (lines_in_window_ >= max_lines_) {
    ++suppressed_;
    return;
  }
  ++lines_in_window_;
  write_line(std::move(line));
}

void ErrorLog::flush() {
  std::lock_guard lock(mutex_);
  write_summary_locked();
}

void ErrorLog::write_summary_locked() {
  if (suppressed_ == 0) return;
  write_line("wsx serve: ... " + std::to_string(suppressed_) + " more errors not shown (at most " +
             std::to_string(max_lines_) + " lines per second)");
  suppressed_ = 0;
}

}  // namespace wsx::tool
