#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "session/layer_export.hpp"

namespace wsx::session {

// A string that is usually empty (the subprotocol), one pointer wide until it is not.
class WSX_LAYER_API RareString {
 public:
  RareString& operator=(std::string value) {
    if (value.empty()) {
      value_.reset();
    } else {
      value_ = std::make_unique<std::string>(std::move(value));
    }
    return *this;
  }
  operator std::string_view() const noexcept {
    return value_ ? std::string_view(*value_) : std::string_view();
  }

 private:
  std::unique_ptr<std::string> value_;
};

}  // namespace wsx::session
