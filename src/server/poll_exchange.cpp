#include "server/poll_exchange.hpp"

#include <utility>

#include "server/poll_response.hpp"
#include "server/upgrade_handshake.hpp"
#include "server/worker.hpp"

namespace wsx::server {
namespace {

// Bytes of a next request accepted while this one waits; browsers do not pipeline, so this
// only bounds a client that does.
constexpr std::size_t max_leftover = 64 * 1024;

}  // namespace

PollExchange::~PollExchange() {
  forget_reply();
}

void PollExchange::forget_reply() noexcept {
  if (!reply_) return;
  reply_->answer = nullptr;  // an answer still on its way is dropped
  reply_.reset();
}

void PollExchange::start(session::Session& session, const Route& route, const proto::HttpHead& head,
                         const PollRequest& request, std::span<const std::uint8_t> rest) {
  session_ = &session;
  call_ = PollCall{};
  call_.kind = request.kind;
  call_.position = request.position;
  call_.sid.assign(request.session);
  if (const std::optional<std::string_view> origin = head.header("Origin")) {
    call_.origin.emplace(*origin);
  }
  if (request.csrf) call_.csrf.emplace(*request.csrf);
  call_.route = &route;
  call_.body.reserve(request.body_size);
  body_left_ = request.body_size;
  keep_alive_ = head.version_minor >= 1 && !head.has_token("Connection", "close");
  method_.assign(head.method);
  target_.assign(head.target);
  origin_ = call_.origin;
  leftover_.clear();
  take(rest);
}

void PollExchange::on_data(session::Session& session, std::span<const std::uint8_t> data) {
  if (session_ != &session) return;
  take(data);
}

void PollExchange::take(std::span<const std::uint8_t> data) {
  const std::size_t body = std::min(body_left_, data.size());
  call_.body.append(reinterpret_cast<const char*>(data.data()), body);
  body_left_ -= body;
  data = data.subspan(body);
  if (!data.empty()) {
    if (data.size() > max_leftover - std::min(max_leftover, leftover_.size())) {
      session::Session& session = *session_;
      forget_reply();
      session_ = nullptr;
      session.abort();
      return;
    }
    leftover_.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  if (body_left_ == 0 && !reply_) dispatch();
}

void PollExchange::dispatch() {
  reply_ = std::make_shared<PollReply>();
  reply_->loop = session_->loop().handle();
  // An entry point of the connection's session: whatever the answer does to it (a close), it
  // is released safely.
  reply_->answer = [this, session = session_](PollOutcome outcome) {
    session->run([&](WebSocket&) { answer(std::move(outcome)); });
  };
  call_.reply = reply_;
  dispatch_poll_call(shared_.poll_hubs, here_, std::move(call_));
}

void PollExchange::answer(PollOutcome outcome) {
  if (session_ == nullptr) return;
  session::Session& session = *session_;
  forget_reply();
  session_ = nullptr;
  // A client that sent its next request before this answer (pipelining; browsers do not) is
  // told to reconnect: serving it in order is not worth the state.
  const bool keep_alive =
      keep_alive_ && leftover_.empty() && (outcome.status == 200 || outcome.status == 204);
  PollResponse response;
  response.status = outcome.status;
  response.content_type = outcome.content_type;
  response.offset = outcome.offset;
  response.body = {reinterpret_cast<const std::uint8_t*>(outcome.body.data()), outcome.body.size()};
  response.keep_alive = keep_alive;
  AccessRecord record;
  record.method = method_;
  record.target = target_;
  if (origin_) record.origin = *origin_;
  record.status = outcome.status;
  record.body_size = outcome.body.size();
  record.reason = outcome.reason;
  record.transport = Transport::long_polling;
  log_access(shared_, session.remote_address(), record, nullptr);
  session.write_raw(serialize_poll_response(response));
  leftover_.clear();
  handshake_.poll_answered(session, keep_alive);
}

}  // namespace wsx::server
