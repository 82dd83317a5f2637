// The ClientError for a lost connection race: which addresses were tried and what became of
// each, so a user sees why none was used.
#pragma once

#include <chrono>
#include <cstddef>

#include "wsx/client.hpp"
#include "wsx/io/racing_connector.hpp"

namespace wsx::client_detail {

// `race` lost; `resolved` addresses were available to it and `timeout` bounded it.
// connect_timeout when the race's deadline ended it, else connect_failed with the last failure.
ClientError connect_error(const io::RaceResult& race, std::size_t resolved,
                          std::chrono::milliseconds timeout);

}  // namespace wsx::client_detail
