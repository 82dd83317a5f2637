#include "session/callback_exception.hpp"

#include <exception>

namespace wsx::session {

std::string_view current_exception_message() noexcept {
  try {
    throw;  // the exception our caller's catch block is handling
  } catch (const std::exception& e) {
    return e.what();  // the object lives until the caller's handler ends
  } catch (...) {
    return "unknown exception";
  }
}

void report_current_exception(const ErrorHook* hook, std::string_view callback,
                              std::string_view route, std::string_view remote_address) noexcept {
  ErrorReport report;
  report.source = ErrorSource::callback;
  report.message = current_exception_message();
  report.callback = callback;
  report.route = route;
  report.remote_address = remote_address;
  report_error(hook != nullptr ? *hook : ErrorHook(), report);
}

}  // namespace wsx::session
