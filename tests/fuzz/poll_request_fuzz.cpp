// Fuzzes the classification of long-polling requests: any head the HTTP parser accepts, with
// its query, is either a well-formed request or a refusal with one of the documented statuses,
// and what it returns points into the request. Input: an HTTP request head (and anything).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/poll_binding.hpp"
#include "server/poll_request.hpp"
#include "server/poll_session_id.hpp"
#include "wsx/proto/request_target.hpp"

using namespace wsx;
using namespace wsx::server;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  proto::HttpHeadParser parser(proto::HttpKind::request);
  if (parser.parse(text.data(), text.size()) != proto::HttpParseStatus::complete) return 0;
  const proto::HttpHead& head = parser.head();
  const std::optional<proto::RequestTarget> target = proto::parse_request_target(head.target);
  if (!target) return 0;
  const std::string_view whole(text);
  const PollClassification result = classify_poll_request(head, target->query, 1000);
  if (!is_poll_query(target->query)) check(!result.request && result.status == 400);
  if (result.request) {
    check(result.status == 0);
    const PollRequest& request = *result.request;
    check(request.body_size <= 1000);
    check(request.kind == PollKind::send || request.body_size == 0);
    check(inside(request.session, whole));
    if (request.csrf) check(inside(*request.csrf, whole));
    check(head.method == (request.kind == PollKind::recv ? "GET" : "POST"));
    // Whatever a client presents as a session id, looking it up is safe.
    const std::optional<std::uint16_t> worker = poll_session_worker(request.session);
    check(!worker || request.session.size() == poll_sid_text_size);
    const PollBinding binding{std::string("https://a.example"), std::string("token")};
    (void)binding.check(head.header("Origin"), request.csrf);
  } else {
    const int s = result.status;
    check(s == 400 || s == 405 || s == 411 || s == 413 || s == 415);
    check(!result.reason.empty());
  }
  return 0;
}
