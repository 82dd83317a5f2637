#include "wsx/error_report.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace wsx {
namespace {

TEST(ErrorReport, FormatsACallbackExceptionWithRouteAndPeer) {
  const ErrorReport report{ErrorSource::callback, "basic_string::substr", "upgrade", "/rooms/*",
                           "127.0.0.1:51234"};
  EXPECT_EQ(format_error_report(report),
            "wsx: exception in 'upgrade' callback (route /rooms/*, peer 127.0.0.1:51234): "
            "basic_string::substr");
}

TEST(ErrorReport, FormatsOtherSourcesWithWhatIsKnown) {
  EXPECT_EQ(format_error_report(
                {ErrorSource::tls_handshake, "wrong version number", "", "", "[::1]:4000"}),
            "wsx: TLS handshake failed (peer [::1]:4000): wrong version number");
  EXPECT_EQ(format_error_report({ErrorSource::signals, "sigaction: Invalid argument", "", "", ""}),
            "wsx: signal watcher failed: sigaction: Invalid argument");
  EXPECT_EQ(format_error_report({ErrorSource::callback, "", "", "ws://h/", ""}),
            "wsx: exception in 'unknown' callback (route ws://h/)");
}

TEST(ErrorReport, ControlBytesCannotForgeALineOrDriveTheTerminal) {
  const ErrorReport report{ErrorSource::callback, "bad\r\nwsx: forged\x1b[2J", "message", "/a\nb",
                           ""};
  EXPECT_EQ(format_error_report(report),
            "wsx: exception in 'message' callback (route /a\\x0ab): "
            "bad\\x0d\\x0awsx: forged\\x1b[2J");
}

TEST(ErrorReport, GoesToTheHookWhenOneIsSet) {
  std::string seen;
  const ErrorHook hook = [&](const ErrorReport& r) {
    seen = std::string(r.callback) + "|" + std::string(r.message);
  };
  report_error(hook, {ErrorSource::callback, "boom", "message", "/echo", "127.0.0.1:1"});
  EXPECT_EQ(seen, "message|boom");
}

TEST(ErrorReport, WritesOneLineToStderrWithoutAHook) {
  testing::internal::CaptureStderr();
  report_error({}, {ErrorSource::callback, "boom", "open", "/echo", "127.0.0.1:1"});
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "wsx: exception in 'open' callback (route /echo, peer 127.0.0.1:1): boom\n");
}

TEST(ErrorReport, AHookThatThrowsIsContained) {
  const ErrorHook hook = [](const ErrorReport&) { throw std::runtime_error("hook broke"); };
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(report_error(hook, {ErrorSource::callback, "boom", "close", "", ""}));
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("hook broke"), std::string::npos) << err;
  EXPECT_NE(err.find("exception in 'close' callback: boom"), std::string::npos) << err;
}

}  // namespace
}  // namespace wsx
