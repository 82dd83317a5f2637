// One JSON object per line for `wsx connect --json`: a small builder that always writes valid
// JSON (strings escaped; each byte that is not part of well-formed UTF-8 is written as the code
// point of the same value, U+0080-U+00FF, and the valid text around it is kept as it is).
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsx::tool {

std::string json_string(std::string_view text);

class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  JsonObject& add(std::string_view key, std::int64_t value);
  template <std::integral T>
  requires(!std::same_as<T, bool> &&
           !std::same_as<T, std::int64_t>) JsonObject& add(std::string_view key, T value) {
    return add(key, static_cast<std::int64_t>(value));
  }
  JsonObject& add(std::string_view key, bool value);
  JsonObject& add(std::string_view key, double value);
  // `json` must already be valid JSON (an object or array built with these helpers).
  JsonObject& add_json(std::string_view key, std::string_view json);
  std::string str() const { return body_ + "}"; }

 private:
  void key(std::string_view name);
  std::string body_ = "{";
};

}  // namespace wsx::tool
