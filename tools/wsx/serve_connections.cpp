#include "serve_connections.hpp"

#include <vector>

#include "connect_json.hpp"

namespace wsx::tool {
namespace {

std::int64_t epoch_ms(std::chrono::system_clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
}

std::string traffic_json(const Traffic& traffic) {
  return JsonObject()
      .add("messages", static_cast<std::int64_t>(traffic.messages.load(std::memory_order_relaxed)))
      .add("bytes", static_cast<std::int64_t>(traffic.bytes.load(std::memory_order_relaxed)))
      .str();
}

struct AcceptedExtensions {
  std::string peer;
  std::string extensions;
};
thread_local AcceptedExtensions last_accepted;

}  // namespace

void note_accepted_extensions(std::string_view peer, std::string_view extensions) {
  last_accepted.peer.assign(peer);
  last_accepted.extensions.assign(extensions);
}

std::string accepted_extensions(std::string_view peer, bool compressed) {
  std::string extensions;
  if (last_accepted.peer == peer) extensions.swap(last_accepted.extensions);
  last_accepted.peer.clear();
  if (extensions.empty() && compressed) extensions = "permessage-deflate";
  return extensions;
}

void ConnectionRecord::count_frame(bool outgoing, const proto::FrameHeader& header) noexcept {
  if (proto::is_control(header.opcode)) return;
  Traffic& traffic = outgoing ? sent : received;
  traffic.bytes.fetch_add(header.payload_length, std::memory_order_relaxed);
  if (header.fin) traffic.messages.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<ConnectionRecord> ConnectionRegistry::open(std::string peer, std::string path,
                                                           std::string subprotocol,
                                                           std::string extensions,
                                                           std::string transport) {
  auto record = std::make_shared<ConnectionRecord>();
  record->peer = std::move(peer);
  record->path = std::move(path);
  record->subprotocol = std::move(subprotocol);
  record->extensions = std::move(extensions);
  record->transport = std::move(transport);
  record->opened = std::chrono::steady_clock::now();
  record->opened_wall = std::chrono::system_clock::now();
  const std::lock_guard lock(mutex_);
  record->id = next_id_++;
  open_.emplace(record->id, record);
  return record;
}

void ConnectionRegistry::close(const ConnectionRecord& record) {
  const std::lock_guard lock(mutex_);
  open_.erase(record.id);
}

void ConnectionRegistry::refused(Refusal refusal) {
  const std::lock_guard lock(mutex_);
  if (refusals_.size() == max_refusals) refusals_.pop_front();
  refusals_.push_back(std::move(refusal));
}

std::size_t ConnectionRegistry::size() const {
  const std::lock_guard lock(mutex_);
  return open_.size();
}

std::string ConnectionRegistry::json(std::chrono::steady_clock::time_point now,
                                     std::chrono::system_clock::time_point wall_now) const {
  // Copied under the lock, formatted outside it: a slow admin request never holds up the
  // server threads that open and close connections.
  std::vector<std::shared_ptr<ConnectionRecord>> records;
  std::deque<Refusal> refusals;
  {
    const std::lock_guard lock(mutex_);
    records.reserve(open_.size());
    for (const auto& [id, record] : open_) records.push_back(record);
    refusals = refusals_;
  }
  std::string connections = "[";
  for (const std::shared_ptr<ConnectionRecord>& record : records) {
    if (connections.size() > 1) connections += ',';
    const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - record->opened);
    connections += JsonObject()
                       .add("id", static_cast<std::int64_t>(record->id))
                       .add("peer", record->peer)
                       .add("path", record->path)
                       .add("protocol", record->subprotocol)
                       .add("extensions", record->extensions)
                       .add("transport", record->transport)
                       .add("opened_ms", epoch_ms(record->opened_wall))
                       .add("age_ms", static_cast<std::int64_t>(age.count()))
                       .add_json("received", traffic_json(record->received))
                       .add_json("sent", traffic_json(record->sent))
                       .str();
  }
  connections += ']';
  std::string refused = "[";
  for (const Refusal& refusal : refusals) {
    if (refused.size() > 1) refused += ',';
    refused += JsonObject()
                   .add("time_ms", epoch_ms(refusal.when))
                   .add("peer", refusal.peer)
                   .add("target", refusal.target)
                   .add("origin", refusal.origin)
                   .add("status", refusal.status)
                   .str();
  }
  refused += ']';
  return JsonObject()
      .add("now_ms", epoch_ms(wall_now))
      .add_json("connections", connections)
      .add_json("refused", refused)
      .str();
}

}  // namespace wsx::tool
