// An event handler for the differential tests of a Connection's receiving paths (the unit test
// of the short-message shortcut and its fuzz target): it records everything an event carries
// and what the handler can see of the connection while it runs, and on some messages (by their
// number, the same on every path) it acts as applications do from inside a callback: closes,
// fails the connection, pings or sends. Two connections fed the same bytes must record the same.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "wsx/proto/connection.hpp"

namespace wsx::test {

struct SeenEvent {
  proto::EventKind kind;
  proto::MessageKind message_kind;
  std::string data;
  bool first, last, compressed;
  std::uint64_t wire_size;
  std::uint16_t close_code;
  std::string close_reason;
  proto::ProtocolError error;
  std::size_t assembling, buffered;  // the connection's, seen from the handler
  proto::ConnectionState state;
  bool operator==(const SeenEvent&) const = default;
  friend void PrintTo(const SeenEvent& s, std::ostream* out) {  // GoogleTest's failure messages
    *out << "{kind " << int(s.kind) << ", "
         << (s.message_kind == proto::MessageKind::text ? "text" : "binary") << " \"" << s.data
         << "\", first " << s.first << ", last " << s.last << ", compressed " << s.compressed
         << ", wire_size " << s.wire_size << ", close " << s.close_code << " \"" << s.close_reason
         << "\", error " << int(s.error) << ", assembling " << s.assembling << ", buffered "
         << s.buffered << ", state " << int(s.state) << "}";
  }
};

// Which messages the recorder acts on: message n (from 0) draws (seed + n * step) % period;
// 0 closes, 1 fails, 2 pings, 3 up to 2 + sends send the message back, the rest do nothing.
// Each test keeps its own numbers, which its seeds (and a fuzz target's corpus) were found with.
struct ActingSchedule {
  std::uint32_t step;
  std::uint32_t period;
  std::uint32_t sends;
};

class ActingRecorder : public proto::EventHandler {
 public:
  ActingRecorder(proto::Connection& connection, std::uint32_t seed, ActingSchedule schedule)
      : connection_(connection), seed_(seed), schedule_(schedule) {}

  void on_event(const proto::Event& e) override {
    seen.push_back({e.kind, e.message_kind, std::string(e.text()), e.first, e.last, e.compressed,
                    e.wire_size, e.close_code, std::string(e.close_reason), e.error,
                    connection_.assembling_amount(), connection_.buffered_amount(),
                    connection_.state()});
    if (e.kind != proto::EventKind::message) return;
    const std::uint32_t action = (seed_ + messages_++ * schedule_.step) % schedule_.period;
    if (action == 0) {
      connection_.close(1000, "enough");
    } else if (action == 1) {
      connection_.fail(1011);
    } else if (action == 2) {
      connection_.ping(e.data);
    } else if (action < 3 + schedule_.sends) {
      connection_.send(e.message_kind, e.data);
    }
  }

  std::vector<SeenEvent> seen;

 private:
  proto::Connection& connection_;
  std::uint32_t seed_;
  ActingSchedule schedule_;
  std::uint32_t messages_ = 0;
};

}  // namespace wsx::test
