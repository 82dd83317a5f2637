// Publishing to Redis (PUBLISH, or EVALSHA of the history script), subscribing to topic
// channels, and handing what arrives on them to the sink.
#include "redis/redis_broker_impl.hpp"

namespace wsx::redis {

void RedisBrokerImpl::send_pending() {
  std::deque<redis::PendingPublish> batch = pending_.take();
  for (redis::PendingPublish& publish : batch) {
    if (!cmd_ready_) {
      pending_.settled();
      refuse("redis connection lost");
      continue;
    }
    const std::string channel = std::string(channel_prefix) + publish.topic;
    int status = REDIS_ERR;
    if (options_.history > 0) {
      const std::string stream = std::string(stream_prefix) + publish.topic;
      const std::string max_entries = std::to_string(options_.history);
      const std::string max_age = std::to_string(options_.history_age.count());
      status = redisAsyncCommand(
          cmd_, &RedisBrokerImpl::on_published, nullptr, "EVALSHA %b 2 %b %b %b %b %b",
          script_sha_.data(), script_sha_.size(), stream.data(), stream.size(), channel.data(),
          channel.size(), publish.envelope.data(), publish.envelope.size(), max_entries.data(),
          max_entries.size(), max_age.data(), max_age.size());
    } else {
      status = redisAsyncCommand(cmd_, &RedisBrokerImpl::on_published, nullptr, "PUBLISH %b %b",
                                 channel.data(), channel.size(), publish.envelope.data(),
                                 publish.envelope.size());
    }
    if (status != REDIS_OK) {
      pending_.settled();
      refuse("redis connection lost");
      continue;
    }
    sent_at_.push_back(loop_->now());
  }
}

void RedisBrokerImpl::on_published(redisAsyncContext* context, void* r, void*) {
  auto* reply = static_cast<redisReply*>(r);
  RedisBrokerImpl* broker = self(context);
  broker->pending_.settled();
  if (!broker->sent_at_.empty()) broker->sent_at_.pop_front();
  if (reply == nullptr) {
    broker->refuse("redis connection lost before it confirmed");
  } else if (reply->type == REDIS_REPLY_ERROR) {
    broker->refuse("redis: " + std::string(reply_text(reply)));
  }
}

void RedisBrokerImpl::send_subscribe(const std::string& topic) {
  send_subscribe_raw(std::string(channel_prefix) + topic);
  ++subscribes_in_flight_[topic];
}

void RedisBrokerImpl::send_subscribe_raw(const std::string& channel) {
  // One callback for every channel: hiredis 0.14 keeps one per channel name, and which entry
  // answers does not matter when they are all the same.
  redisAsyncCommand(sub_, &RedisBrokerImpl::on_subscription, nullptr, "SUBSCRIBE %b",
                    channel.data(), channel.size());
}

void RedisBrokerImpl::on_subscription(redisAsyncContext* context, void* r, void*) {
  auto* reply = static_cast<redisReply*>(r);
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
  RedisBrokerImpl* broker = self(context);
  if (context != broker->sub_) return;
  const std::string_view kind = reply_text(reply->element[0]);
  const std::string_view channel = reply_text(reply->element[1]);
  if (kind == "message") {
    broker->on_message(channel, reply_text(reply->element[2]));
  } else if (kind == "subscribe" && channel.substr(0, channel_prefix.size()) == channel_prefix) {
    broker->on_subscribed(std::string(channel.substr(channel_prefix.size())));
  }
}

void RedisBrokerImpl::on_subscribed(const std::string& topic) {
  const auto found = subscribes_in_flight_.find(topic);
  if (found == subscribes_in_flight_.end()) return;
  if (--found->second > 0) return;  // a later SUBSCRIBE of the same topic is still on its way
  subscribes_in_flight_.erase(found);
  for (auto& waiter : topics_.confirm(topic)) waiter(true);
}

void RedisBrokerImpl::on_message(std::string_view channel, std::string_view body) {
  if (channel == fence_channel_) {
    on_fence(body);
    return;
  }
  if (channel.substr(0, channel_prefix.size()) != channel_prefix) return;
  const std::optional<redis::ChannelMessage> message = redis::decode_channel_message(body);
  if (!message) return;  // not ours: someone else publishing on the channel
  received_.fetch_add(1, std::memory_order_relaxed);
  BrokerMessage delivered;
  delivered.topic = channel.substr(channel_prefix.size());
  delivered.position = message->position;
  delivered.kind = message->envelope.kind;
  delivered.payload = message->envelope.payload;
  delivered.origin = message->envelope.origin;
  delivered.local = message->envelope.node == instance_;
  sink_->deliver(delivered);
}

}  // namespace wsx::redis
