// Positions of messages in a topic's history, as a broker gives them: "<ms>-<seq>" (a Redis
// Stream entry id), ordered by (ms, seq). Pure functions; the broker and the topics use them
// to drop what a recovering subscriber already has.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "session/layer_export.hpp"

namespace wsx::session {

struct Position {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  auto operator<=>(const Position&) const = default;
};

// nullopt unless `text` is "<digits>-<digits>" (each fitting 64 bits).
WSX_LAYER_API std::optional<Position> parse_position(std::string_view text) noexcept;

}  // namespace wsx::session
