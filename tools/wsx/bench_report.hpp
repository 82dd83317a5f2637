// The results of a `wsx bench` run and how they are printed: a table for people, one JSON
// object for scripts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench_latency.hpp"

namespace wsx::tool {

struct BenchReport {
  std::string url;
  std::size_t connections = 0;  // asked for
  std::size_t opened = 0;       // that completed the handshake
  std::size_t message_size = 0;
  bool binary = false;
  std::size_t in_flight = 0;
  bool compress = false;       // permessage-deflate offered (--compress)
  std::size_t compressed = 0;  // connections on which the server accepted it
  double elapsed_seconds = 0;  // from the start to the last echo
  std::uint64_t messages = 0;  // echoes received
  std::uint64_t bytes = 0;     // payload bytes echoed
  LatencyHistogram latency;
  std::uint64_t errors = 0;
  std::vector<std::string> error_messages;             // the first few, distinct
  std::map<std::uint16_t, std::uint64_t> close_codes;  // what ended each opened connection
  // Of the closes with 1009, those our client made: the server sent a message larger than
  // `max_message_size`, the client's limit (the others are the server's close frames).
  std::uint64_t too_big_from_server = 0;
  std::size_t max_message_size = 0;

  double messages_per_second() const;
  double megabytes_per_second() const;  // payload echoed, 10^6 bytes
};

std::string format_table(const BenchReport& report);
std::string format_json(const BenchReport& report);
// A JSON string literal.
std::string json_quote(const std::string& text);

}  // namespace wsx::tool
