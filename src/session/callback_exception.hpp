// Reporting an exception that escaped application code, from the catch block that stopped it.
// Shared by the session (connection callbacks), the server (upgrade decisions, the http handler,
// the access log) and the client (its own callbacks).
#pragma once

#include <string_view>

#include "session/layer_export.hpp"
#include "wsx/error_report.hpp"

namespace wsx::session {

// The exception being handled: its what(), or "unknown exception" for one not derived from
// std::exception. Call from inside a catch block; the view lives as long as that block.
WSX_LAYER_API std::string_view current_exception_message() noexcept;

// Hands the exception being handled to `hook` (null or empty: one line on stderr) as thrown by
// `callback`. Call from inside a catch block.
WSX_LAYER_API void report_current_exception(const ErrorHook* hook, std::string_view callback,
                                            std::string_view route,
                                            std::string_view remote_address) noexcept;

}  // namespace wsx::session
