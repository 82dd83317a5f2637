// A session's later requests must come from the Origin and with the token of its open.
#include "server/poll_binding.hpp"

#include <gtest/gtest.h>

namespace wsx::server {
namespace {

int compared = 0;
bool counting_compare(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  ++compared;
  return constant_time_equal(a, b);
}

TEST(PollBinding, OriginMustBeTheOneOfTheOpen) {
  const PollBinding binding{"https://a.example", std::nullopt};
  EXPECT_EQ(binding.check("https://a.example", std::nullopt), BindingVerdict::valid);
  EXPECT_EQ(binding.check("https://b.example", std::nullopt), BindingVerdict::other_origin);
  EXPECT_EQ(binding.check("https://a.example:443", std::nullopt), BindingVerdict::other_origin);
  // Browsers send no Origin on a same-origin GET (the recv): that passes, the token binds it.
  EXPECT_EQ(binding.check(std::nullopt, std::nullopt), BindingVerdict::valid);
  const PollBinding no_origin{std::nullopt, std::nullopt};
  EXPECT_EQ(no_origin.check(std::nullopt, std::nullopt), BindingVerdict::valid);
  EXPECT_EQ(no_origin.check("https://a.example", std::nullopt), BindingVerdict::other_origin);
}

TEST(PollBinding, TokenComparedInConstantTime) {
  const PollBinding binding{"https://a.example", "TOKEN-1"};
  compared = 0;
  EXPECT_EQ(binding.check("https://a.example", "TOKEN-1", counting_compare), BindingVerdict::valid);
  EXPECT_EQ(binding.check("https://a.example", "TOKEN-2", counting_compare),
            BindingVerdict::wrong_token);
  EXPECT_EQ(binding.check("https://a.example", "TOKEN", counting_compare),
            BindingVerdict::wrong_token);
  EXPECT_EQ(compared, 3);
  EXPECT_EQ(binding.check("https://a.example", std::nullopt), BindingVerdict::missing_token);
  EXPECT_EQ(binding.check(std::nullopt, std::nullopt), BindingVerdict::missing_token);
  EXPECT_EQ(binding.check("https://a.example", ""), BindingVerdict::missing_token);
  // The Origin is checked first: a foreign page learns nothing about the token.
  EXPECT_EQ(binding.check("https://evil.example", "TOKEN-1"), BindingVerdict::other_origin);
  EXPECT_EQ(describe(BindingVerdict::wrong_token), "csrf token is not the session's");
}

}  // namespace
}  // namespace wsx::server
