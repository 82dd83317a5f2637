// Where the CSRF check finds the token and the session in a request, and the subprotocol
// entries it hides.
#include "server/csrf_gate.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace wsx::server {
namespace {

proto::UpgradeRequest request_with(std::string_view query,
                                   std::vector<std::string_view> subprotocols = {}) {
  proto::UpgradeRequest request;
  request.query = query;
  request.subprotocols = std::move(subprotocols);
  return request;
}

TEST(CsrfGate, TokenFromTheQueryFirstThenTheSubprotocol) {
  EXPECT_EQ(find_csrf_token(request_with("csrf=abc")), "abc");
  EXPECT_EQ(find_csrf_token(request_with("a=1&csrf=abc&b=2")), "abc");
  EXPECT_EQ(find_csrf_token(request_with("csrf=one&csrf=two")), "one");
  EXPECT_EQ(find_csrf_token(request_with("xcsrf=abc")), std::nullopt);
  EXPECT_EQ(find_csrf_token(request_with("csrf")), "");
  EXPECT_EQ(find_csrf_token(request_with("", {"chat", "csrf.tok"})), "tok");
  EXPECT_EQ(find_csrf_token(request_with("csrf=q", {"csrf.s"})), "q");
  EXPECT_EQ(find_csrf_token(request_with("", {"chat", "csrf"})), std::nullopt);
}

TEST(CsrfGate, DropsEveryTokenEntryAndKeepsTheOthersInOrder) {
  std::vector<std::string_view> offered = {"csrf.a", "chat", "csrf.b", "v2", "csrfx"};
  drop_csrf_subprotocols(offered);
  EXPECT_EQ(offered, (std::vector<std::string_view>{"chat", "v2", "csrfx"}));
}

TEST(CsrfGate, ChecksTheTokenAgainstTheNamedCookie) {
  auto tokens = std::make_shared<CsrfTokens>(CsrfTokens::generate());
  const CsrfCheck check{tokens, "sid"};
  const std::string token = tokens->issue("s1");
  const std::string text =
      "GET /?csrf=" + token + " HTTP/1.1\r\nHost: x\r\nCookie: other=s2; sid=s1\r\n\r\n";
  proto::HttpHeadParser parser(proto::HttpKind::request);
  ASSERT_EQ(parser.parse(text.data(), text.size()), proto::HttpParseStatus::complete);
  proto::UpgradeRequest request =
      request_with(std::string_view(text).substr(6, 101));  // "csrf=TOKEN"
  request.head = &parser.head();
  ASSERT_EQ(find_csrf_token(request), token);
  EXPECT_EQ(check_csrf(check, request), CsrfVerdict::valid);
  EXPECT_EQ(check_csrf(CsrfCheck{tokens, "other"}, request), CsrfVerdict::other_session);
  EXPECT_EQ(check_csrf(CsrfCheck{tokens, "missing"}, request), CsrfVerdict::no_session);
  EXPECT_EQ(check_csrf(CsrfCheck{nullptr, "sid"}, request), CsrfVerdict::forged);
  request.query = "";
  EXPECT_EQ(check_csrf(check, request), CsrfVerdict::missing);
}

}  // namespace
}  // namespace wsx::server
