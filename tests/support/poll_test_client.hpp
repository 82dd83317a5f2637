// A long-polling client for server tests (docs/long-polling-protocol.md), built from the
// protocol core: a client-role proto::Connection makes and reads the frames, HttpTestClient
// connections carry them (one for sends, one for recvs, which may be held).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http_test_client.hpp"
#include "raw_ws_client.hpp"
#include "wsx/proto/connection.hpp"

namespace wsx::test {

class PollTestClient : private proto::EventHandler {
 public:
  // `headers`: extra request lines for every request ("Origin: ...\r\n").
  PollTestClient(std::uint16_t port, std::string path, std::string headers = {})
      : port_(port), path_(std::move(path)), headers_(std::move(headers)) {
    proto::ConnectionOptions options;
    options.role = proto::Role::client;
    options.max_message_size = 64 * 1024 * 1024;
    connection_.emplace(options);
  }

  // POST ?wsx-poll=open (plus `query`); the answer. On 200, sid() and the JSON fields are set.
  std::optional<HttpAnswer> open(std::string_view query = {}, std::string_view extra = {}) {
    std::string target =
        path_ + "?" + std::string(query) + (query.empty() ? "" : "&") + "wsx-poll=open";
    std::optional<HttpAnswer> answer = sender().request(
        head("POST", target, "Content-Type: application/x-wsx-poll\r\n" + std::string(extra), 0));
    if (answer && answer->status == 200) {
      open_json = answer->body;
      sid = field("sid");
      protocol = field("protocol");
    }
    return answer;
  }

  proto::Connection& connection() { return *connection_; }

  // POSTs what the connection has queued (frames) from offset sent(); the answer.
  std::optional<HttpAnswer> flush(std::string_view extra = {}) {
    const std::span<const std::uint8_t> pending = connection_->pending_output();
    std::string body(reinterpret_cast<const char*>(pending.data()), pending.size());
    std::optional<HttpAnswer> answer = post(sent_, body, extra);
    if (answer && answer->status == 204) {
      connection_->consume_output(pending.size());
      sent_ += body.size();
    }
    return answer;
  }
  std::optional<HttpAnswer> post(std::uint64_t offset, std::string_view body,
                                 std::string_view extra = {}) {
    const std::string target = path_ + "?wsx-poll=send&offset=" + std::to_string(offset);
    return sender().request(head("POST", target,
                                 "Content-Type: application/x-wsx-poll\r\nWsx-Session: " + sid +
                                     "\r\n" + std::string(extra),
                                 body.size()) +
                            std::string(body));
  }
  std::optional<HttpAnswer> send_text(std::string_view text) {
    connection_->send_text(text);
    return flush();
  }

  // GET ?wsx-poll=recv&ack=received(); a 200's body goes to the connection (events()), and
  // received() grows by it.
  std::optional<HttpAnswer> recv(std::string_view extra = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return recv_at(received_, extra, timeout);
  }
  std::optional<HttpAnswer> recv_at(std::uint64_t ack, std::string_view extra = {},
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const std::string target = path_ + "?wsx-poll=recv&ack=" + std::to_string(ack);
    std::optional<HttpAnswer> answer = receiver().request(
        head("GET", target, "Wsx-Session: " + sid + "\r\n" + std::string(extra), std::nullopt),
        timeout);
    if (answer && answer->status == 200 && ack == received_ && !answer->body.empty()) {
      EXPECT_EQ(answer->header("Wsx-Offset"), std::to_string(ack));
      std::string bytes = answer->body;
      received_ += bytes.size();
      connection_->receive({reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()}, *this);
    }
    return answer;
  }
  // Polls until `count` events arrived (or a recv fails): true when they did.
  bool wait_events(std::size_t count) {
    for (int i = 0; i < 50 && events.size() < count; ++i) {
      const std::optional<HttpAnswer> answer = recv();
      if (!answer || answer->status != 200) return events.size() >= count;
      // The client answers pings (and a close) as a browser would.
      if (connection_->buffered_amount() > 0) flush();
    }
    return events.size() >= count;
  }

  std::uint64_t received() const { return received_; }
  std::uint64_t sent() const { return sent_; }

  std::string sid;
  std::string protocol;
  std::string open_json;
  std::vector<RecordedEvent> events;

  std::string head(std::string_view method, std::string_view target, std::string_view lines,
                   std::optional<std::size_t> length) const {
    std::string text = std::string(method) + " " + std::string(target) +
                       " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) + "\r\n" + headers_ +
                       std::string(lines);
    if (length) text += "Content-Length: " + std::to_string(*length) + "\r\n";
    return text + "\r\n";
  }

 private:
  void on_event(const proto::Event& event) override {
    RecordedEvent recorded;
    recorded.kind = event.kind;
    recorded.message_kind = event.message_kind;
    recorded.data.assign(event.data.begin(), event.data.end());
    recorded.close_code = event.close_code;
    recorded.close_reason = std::string(event.close_reason);
    events.push_back(std::move(recorded));
  }
  std::string field(std::string_view name) const {
    const std::string key = "\"" + std::string(name) + "\":\"";
    const std::size_t at = open_json.find(key);
    if (at == std::string::npos) return {};
    const std::size_t start = at + key.size();
    return open_json.substr(start, open_json.find('"', start) - start);
  }
  // A connection that the server closed (after a refusal) is replaced.
  HttpTestClient& sender() { return fresh(send_); }
  HttpTestClient& receiver() { return fresh(recv_); }
  HttpTestClient& fresh(std::unique_ptr<HttpTestClient>& client) {
    if (!client || !client->usable()) client = std::make_unique<HttpTestClient>(port_);
    return *client;
  }

  std::uint16_t port_;
  std::string path_;
  std::string headers_;
  std::optional<proto::Connection> connection_;
  std::unique_ptr<HttpTestClient> send_;
  std::unique_ptr<HttpTestClient> recv_;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
};

}  // namespace wsx::test
