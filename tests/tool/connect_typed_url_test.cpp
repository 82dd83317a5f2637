// URLs as people type them (connect_typed_url.cpp): which inputs are a mistyped "://", refused
// with the URL meant, and which are URLs without a scheme, read as such.
#include "connect_typed_url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace wsx::tool {
namespace {

// The usage error's text, or "" when the URL was taken.
std::string refusal(std::string_view typed) {
  try {
    interpret_typed_url(typed);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

TEST(TypedUrl, AMistypedSchemeIsRefusedWithTheUrlMeant) {
  for (const auto& [typed, meant] : {
           std::pair<std::string_view, std::string_view>{"ws:/127.0.0.1:8080/echo",
                                                         "ws://127.0.0.1:8080/echo"},
           {"ws//127.0.0.1:8080/echo", "ws://127.0.0.1:8080/echo"},
           {"ws///host/x", "ws://host/x"},
           {"wss:127.0.0.1:8443/", "wss://127.0.0.1:8443/"},
           {"wss:host:8443/", "wss://host:8443/"},
           {"ws:/path", "ws://path"},
           {"HTTP:\\\\host/", "HTTP://host/"},
           {"ws\\host/", "ws://host/"},
       }) {
    const std::string error = refusal(typed);
    EXPECT_NE(error.find("the scheme's \"://\" is mistyped; did you mean \"" + std::string(meant) +
                         "\"?"),
              std::string::npos)
        << typed << ": " << error;
  }
}

// A host named like a scheme ("ws", a container's name, say), with a path or a port, is what
// "localhost/x" and "localhost:8080/x" are: a URL without a scheme (wss:// unless loopback).
TEST(TypedUrl, AHostNamedLikeASchemeIsAHost) {
  for (const auto& [typed, url] : {
           std::pair<std::string_view, std::string_view>{"ws/path", "wss://ws/path"},
           {"ws/", "wss://ws/"},
           {"wss/chat?room=1", "wss://wss/chat?room=1"},
           {"http/x", "wss://http/x"},
           {"ws:8080/path", "wss://ws:8080/path"},
           {"ws:8080", "wss://ws:8080"},
           {"ws", "wss://ws"},
           {"wss.example.com/x", "wss://wss.example.com/x"},
           {"localhost:8080/x", "ws://localhost:8080/x"},
       }) {
    EXPECT_EQ(refusal(typed), "") << typed;
    EXPECT_EQ(interpret_typed_url(typed).url, url) << typed;
  }
}

TEST(TypedUrl, AWholeUrlIsNotAskedAbout) {
  EXPECT_EQ(interpret_typed_url("ws://ws/path").url, "ws://ws/path");
  EXPECT_EQ(interpret_typed_url("https://host/x").url, "wss://host/x");
  EXPECT_EQ(refusal(""), "the URL is empty");
}

}  // namespace
}  // namespace wsx::tool
