// The live connections of `wsx serve` and its recent refused requests, for the admin endpoint
// (serve_admin.hpp) and the web console's connections panel: the server-side twin of a
// browser's about:networking#websockets.
//
// A connection's counters are atomics written by its own server thread (from the route's frame
// callback) and read by whichever thread answers the admin request; the registry's mutex is
// taken only when a connection opens or closes and when a snapshot is made.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "wsx/proto/frame.hpp"

namespace wsx::tool {

struct Traffic {
  std::atomic<std::uint64_t> messages{0};
  std::atomic<std::uint64_t> bytes{0};  // payload bytes as on the wire (compressed if deflated)
};

struct ConnectionRecord {
  std::uint64_t id = 0;
  std::string peer;  // "127.0.0.1:51234"
  std::string path;
  std::string subprotocol;
  std::string extensions;
  std::string transport;  // "h1", "h2", "long-polling" (wsx::transport_name)
  std::chrono::steady_clock::time_point opened;
  std::chrono::system_clock::time_point opened_wall;
  Traffic received, sent;

  // Data frames only (pings, pongs and close frames are not messages); a message is counted at
  // its final frame.
  void count_frame(bool outgoing, const proto::FrameHeader& header) noexcept;
};

// A request the server answered with an error (a refused upgrade, a 404): the browser's
// WebSocket API hides the status from the page, so the console asks for it here.
struct Refusal {
  std::chrono::system_clock::time_point when;
  std::string peer;
  std::string target;
  std::string origin;
  int status = 0;
};

// The Sec-WebSocket-Extensions the server answered, with their parameters, for the connection
// that opens next on this thread: the access log sees the 101 right before the open callback
// runs on the same thread (upgrade_handshake.cpp), and the WebSocket itself only tells whether
// it is compressed. When the peers differ (that order changed), the name alone is shown.
void note_accepted_extensions(std::string_view peer, std::string_view extensions);
std::string accepted_extensions(std::string_view peer, bool compressed);

class ConnectionRegistry {
 public:
  static constexpr std::size_t max_refusals = 32;

  std::shared_ptr<ConnectionRecord> open(std::string peer, std::string path,
                                         std::string subprotocol, std::string extensions,
                                         std::string transport = "h1");
  void close(const ConnectionRecord& record);
  void refused(Refusal refusal);

  // {"now_ms":..., "connections":[...], "refused":[...]}: see serve_admin.hpp for the fields.
  std::string json(std::chrono::steady_clock::time_point now,
                   std::chrono::system_clock::time_point wall_now) const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::shared_ptr<ConnectionRecord>> open_;  // by id: oldest first
  std::deque<Refusal> refusals_;                                     // newest last
};

}  // namespace wsx::tool
