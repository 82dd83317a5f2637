#include "server/h2_poll_exchange.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "server/server_shared.hpp"

namespace wsx::server {

proto::HttpResponse poll_outcome_response(const PollOutcome& outcome) {
  proto::HttpResponse response;
  response.status = outcome.status;
  response.headers = {{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}};
  if (outcome.status == 405) response.headers.emplace_back("Allow", "GET, POST");
  if (outcome.offset) response.headers.emplace_back("Wsx-Offset", std::to_string(*outcome.offset));
  if (outcome.status != 204) {
    if (!outcome.content_type.empty()) {
      response.headers.emplace_back("Content-Type", std::string(outcome.content_type));
    }
    response.body = outcome.body;
  }
  return response;
}

H2PollExchange::H2PollExchange(ServerShared& shared, PollHub& here, io::LoopHandle loop,
                               const Route& route, const proto::HttpHead& head,
                               const PollRequest& request, Answer answer)
    : shared_(shared), here_(here), loop_(std::move(loop)), answer_(std::move(answer)) {
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
}

H2PollExchange::~H2PollExchange() {
  if (reply_) reply_->answer = nullptr;  // an answer still on its way is dropped
}

void H2PollExchange::start() {
  if (body_left_ == 0) dispatch();
}

void H2PollExchange::received(std::span<const std::uint8_t> data) {
  if (reply_) return;
  const std::size_t body = std::min(body_left_, data.size());
  call_.body.append(reinterpret_cast<const char*>(data.data()), body);
  body_left_ -= body;
  if (body_left_ == 0) dispatch();
}

void H2PollExchange::remote_ended() {
  if (!reply_ && body_left_ > 0) fail(400, "body shorter than its Content-Length");
}

void H2PollExchange::fail(int status, std::string_view reason) {
  reply_ = std::make_shared<PollReply>();  // nothing more is taken
  if (Answer answer = std::move(answer_)) answer(poll_refusal(status, reason));
}

void H2PollExchange::dispatch() {
  reply_ = std::make_shared<PollReply>();
  reply_->loop = loop_;
  reply_->answer = [this](PollOutcome outcome) {
    if (Answer answer = std::move(answer_)) answer(std::move(outcome));  // may destroy us
  };
  call_.reply = reply_;
  dispatch_poll_call(shared_.poll_hubs, here_, std::move(call_));
}

}  // namespace wsx::server
