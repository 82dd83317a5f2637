#include "server/request_cookies.hpp"

#include <gtest/gtest.h>

#include <string>

#include "wsx/server.hpp"

namespace wsx::server {
namespace {

TEST(RequestCookies, FindsACookieByItsExactName) {
  EXPECT_EQ(find_cookie("a=1; session=xyz; b=2", "session"), "xyz");
  EXPECT_EQ(find_cookie("session=xyz", "session"), "xyz");
  EXPECT_EQ(find_cookie("a=1;session=xyz;b=2", "session"), "xyz");
  EXPECT_EQ(find_cookie("session=\"quoted\"", "session"), "quoted");
  EXPECT_EQ(find_cookie("session=", "session"), "");
  EXPECT_EQ(find_cookie("session=first; session=second", "session"), "first");
  EXPECT_EQ(find_cookie("my_session=1; Session=2; session", "session"), std::nullopt);
  EXPECT_EQ(find_cookie("", "session"), std::nullopt);
  EXPECT_EQ(find_cookie(";;; ; =", "session"), std::nullopt);
  EXPECT_EQ(find_cookie("a=1", ""), std::nullopt);
}

TEST(RequestCookies, LooksInEveryCookieHeader) {
  const std::string text =
      "GET / HTTP/1.1\r\nHost: x\r\ncookie: a=1\r\nCookie: session=abc\r\n\r\n";
  proto::HttpHeadParser parser(proto::HttpKind::request);
  ASSERT_EQ(parser.parse(text.data(), text.size()), proto::HttpParseStatus::complete);
  EXPECT_EQ(find_cookie(parser.head(), "session"), "abc");
  EXPECT_EQ(find_cookie(parser.head(), "a"), "1");
  EXPECT_EQ(find_cookie(parser.head(), "b"), std::nullopt);
  // The same through the requests the application sees.
  HttpRequest request;
  request.head = &parser.head();
  EXPECT_EQ(request.cookie("session"), "abc");
  UpgradeRequest upgrade;
  EXPECT_EQ(upgrade.cookie("session"), std::nullopt);  // no head
  upgrade.head = &parser.head();
  EXPECT_EQ(upgrade.cookie("a"), "1");
}

}  // namespace
}  // namespace wsx::server
