// The error lines of `wsx serve` (failed TLS handshakes, exceptions, signal watcher failures):
// one line each, but at most `max_lines_per_second`; what goes over is counted and summarised
// as "wsx serve: ... 37 more" once the second is over (at the next report, or at exit), so a
// scanner hammering a wss:// port cannot flood the terminal or the log.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

#include "wsx/error_report.hpp"

namespace wsx::tool {

class ErrorLog {
 public:
  explicit ErrorLog(std::size_t max_lines_per_second = 10) : max_lines_(max_lines_per_second) {}

  // Any server thread.
  void report(const ErrorReport& report);
  // At exit: the summary of what the last second held back, if anything.
  void flush();

 private:
  void write_summary_locked();

  std::mutex mutex_;
  std::size_t max_lines_;
  std::chrono::steady_clock::time_point window_start_{};
  std::size_t lines_in_window_ = 0;
  std::size_t suppressed_ = 0;
};

}  // namespace wsx::tool
