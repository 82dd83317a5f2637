// The number of members of an aggregate, found by brace-initializing it with ever more
// arguments. ClientHandlers repeats WebSocketHandlers' callbacks so that it stays a plain
// aggregate (designated initializers); client.cpp uses this count to fail the build when a
// callback is added to one and not to the other.
#pragma once

#include <cstddef>

namespace wsx::client_detail {

struct AnyMember {
  template <class T>
  operator T() const;  // declared only: used in unevaluated contexts
};

template <class Aggregate, class... Members>
constexpr std::size_t aggregate_member_count() {
  if constexpr (requires { Aggregate{Members{}..., AnyMember{}}; }) {
    return aggregate_member_count<Aggregate, Members..., AnyMember>();
  } else {
    return sizeof...(Members);
  }
}

}  // namespace wsx::client_detail
