// Recovery: wait for the topic's subscription, read the Stream after `since`, then a fence: a
// PUBLISH on our own channel sent after the read. Redis handles commands in one order, and one
// connection's messages arrive in order, so when the fence comes back every message published
// before the read (thus in its result or older) has reached the sink.
#include <cstdlib>

#include "redis/redis_broker_impl.hpp"

namespace wsx::redis {

void RedisBrokerImpl::start_recovery(const std::string& topic, const std::string& since,
                                     std::function<void(RecoveryResult)> done) {
  auto fail = [&done] { done(RecoveryResult{}); };
  if (options_.history == 0 || !session::parse_position(since) || !topics_.wanted(topic)) {
    fail();
    return;
  }
  auto shared_done = std::make_shared<std::function<void(RecoveryResult)>>(std::move(done));
  auto query = [this, topic, since, shared_done](bool confirmed) {
    if (!confirmed || !cmd_ready_) {
      (*shared_done)(RecoveryResult{});
      return;
    }
    read_history(topic, since, shared_done);
  };
  if (!topics_.wait_for_confirmation(topic, query)) {
    query(topics_.confirmed(topic) && sub_ready_);
  }
}

void RedisBrokerImpl::read_history(const std::string& topic, const std::string& since,
                                   std::shared_ptr<std::function<void(RecoveryResult)>> done) {
  const std::string stream = std::string(stream_prefix) + topic;
  const std::string script = redis::recover_script;
  auto* read = new HistoryRead{this, std::move(done)};
  const int status =
      redisAsyncCommand(cmd_, &RedisBrokerImpl::on_history, read, "EVAL %b 1 %b %b", script.data(),
                        script.size(), stream.data(), stream.size(), since.data(), since.size());
  if (status != REDIS_OK) {
    auto callback = std::move(read->done);
    delete read;
    (*callback)(RecoveryResult{});
  }
}

void RedisBrokerImpl::on_history(redisAsyncContext*, void* r, void* privdata) {
  std::unique_ptr<HistoryRead> read(static_cast<HistoryRead*>(privdata));
  auto* reply = static_cast<redisReply*>(r);
  RedisBrokerImpl* broker = read->broker;
  RecoveryResult result;
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[1]->type != REDIS_REPLY_ARRAY) {
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
      broker->log("history read failed: " + std::string(reply_text(reply)));
    }
    (*read->done)(std::move(result));
    return;
  }
  result.status =
      reply->element[0]->integer != 0 ? RecoveryStatus::truncated : RecoveryStatus::complete;
  const redisReply* entries = reply->element[1];
  for (std::size_t i = 0; i < entries->elements; ++i) {
    const redisReply* entry = entries->element[i];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) continue;
    const redisReply* fields = entry->element[1];
    if (fields->type != REDIS_REPLY_ARRAY || fields->elements < 2) continue;
    const std::optional<redis::Envelope> envelope =
        redis::decode_envelope(reply_text(fields->element[1]));
    if (!envelope) continue;
    RecoveredMessage message;
    message.position = std::string(reply_text(entry->element[0]));
    message.kind = envelope->kind;
    message.payload.assign(envelope->payload.begin(), envelope->payload.end());
    result.messages.push_back(std::move(message));
  }
  broker->send_fence(std::move(result), std::move(read->done));
}

void RedisBrokerImpl::send_fence(RecoveryResult result,
                                 std::shared_ptr<std::function<void(RecoveryResult)>> done) {
  if (!cmd_ready_) {
    (*done)(RecoveryResult{});
    return;
  }
  const std::uint64_t id = next_fence_++;
  auto shared_result = std::make_shared<RecoveryResult>(std::move(result));
  fences_[id] = [shared_result, done](bool arrived) {
    (*done)(arrived ? std::move(*shared_result) : RecoveryResult{});
  };
  const std::string body = std::to_string(id);
  if (redisAsyncCommand(cmd_, nullptr, nullptr, "PUBLISH %b %b", fence_channel_.data(),
                        fence_channel_.size(), body.data(), body.size()) != REDIS_OK) {
    auto done_now = std::move(fences_[id]);
    fences_.erase(id);
    done_now(false);
  }
}

void RedisBrokerImpl::on_fence(std::string_view body) {
  const auto found = fences_.find(std::strtoull(std::string(body).c_str(), nullptr, 10));
  if (found == fences_.end()) return;
  auto done = std::move(found->second);
  fences_.erase(found);
  done(true);
}

}  // namespace wsx::redis
