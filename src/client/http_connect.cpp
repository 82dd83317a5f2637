// HTTP CONNECT: one request, one reply head (after any interim 1xx); 2xx opens the tunnel,
// anything else is the proxy's refusal, reported with its status and headers.
#include <utility>

#include "base64.hpp"
#include "proxy_negotiation.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::client_detail {
namespace {

class HttpConnect final : public ProxyNegotiation {
 public:
  static constexpr int kMaxInterimReplies = 8;

  HttpConnect(const Proxy& proxy, const TunnelTarget& target, std::size_t max_head)
      : parser_(proto::HttpKind::response,
                proto::HttpLimits{max_head, proto::HttpLimits{}.max_headers}),
        proxy_(proxy.to_string()),
        credentials_(proxy.username.has_value()) {
    const bool v6 = target.host.find(':') != std::string::npos;
    target_ = (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
    output_ = "CONNECT " + target_ + " HTTP/1.1\r\nHost: " + target_ + "\r\n";
    if (proxy.username) {
      output_ += "Proxy-Authorization: Basic " +
                 base64_encode(*proxy.username + ":" + proxy.password) + "\r\n";
    }
    output_ += "\r\n";
  }

  std::string take_output() override { return std::exchange(output_, {}); }

  TunnelStatus feed(std::string_view bytes) override {
    buffer_.append(bytes);
    for (;;) {
      switch (parser_.parse(buffer_.data(), buffer_.size())) {
        case proto::HttpParseStatus::need_more:
          return TunnelStatus::need_more;
        case proto::HttpParseStatus::error:
          return fail(ClientErrorKind::proxy_failed,
                      "the proxy " + proxy_ + " did not answer CONNECT with valid HTTP: " +
                          std::string(proto::describe(parser_.error())));
        case proto::HttpParseStatus::complete:
          break;
      }
      // An interim 1xx reply (100 Continue, 103 Early Hints...) is not the answer: the final
      // one follows it (RFC 9110 §15.2). 101 is a final answer, and not a tunnel. A proxy that
      // sends interim replies without end is cut off rather than read forever.
      const int status = parser_.head().status;
      if (status < 100 || status > 199 || status == 101) break;
      if (++interim_replies_ > kMaxInterimReplies) {
        return fail(ClientErrorKind::proxy_failed,
                    "the proxy " + proxy_ + " sent more than " +
                        std::to_string(kMaxInterimReplies) +
                        " interim 1xx replies to CONNECT and no final one");
      }
      buffer_.erase(0, parser_.head_size());
      parser_.reset();
    }
    const proto::HttpHead& head = parser_.head();
    if (head.status < 200 || head.status > 299) return refuse(head);
    // A 2xx reply to CONNECT has no body (RFC 9110 §9.3.6): what follows would come from the
    // target, which has not been spoken to yet.
    if (buffer_.size() > parser_.head_size()) {
      return fail(ClientErrorKind::proxy_failed,
                  "the proxy " + proxy_ + " sent " +
                      std::to_string(buffer_.size() - parser_.head_size()) +
                      " unexpected bytes after its CONNECT reply");
    }
    return TunnelStatus::established;
  }

  ClientError closed_early(std::string_view reason) const override {
    ClientError error;
    error.kind = ClientErrorKind::proxy_failed;
    error.message = "the proxy " + proxy_ + " closed the connection " +
                    (buffer_.empty() ? "before answering CONNECT" : "in the middle of its reply") +
                    (reason.empty() ? "" : ": " + std::string(reason));
    return error;
  }

  const ClientError& error() const override { return error_; }

 private:
  TunnelStatus fail(ClientErrorKind kind, std::string message) {
    error_.kind = kind;
    error_.message = std::move(message);
    return TunnelStatus::failed;
  }

  TunnelStatus refuse(const proto::HttpHead& head) {
    std::string message = "the proxy " + proxy_ + " refused the tunnel to " + target_ + ": HTTP " +
                          std::to_string(head.status);
    if (!head.reason.empty()) message += " " + std::string(head.reason);
    if (head.status == 407) {
      message += credentials_ ? " (the proxy did not accept the credentials in the proxy URL)"
                              : " (it wants credentials: http://USER:PASSWORD@HOST:PORT)";
    }
    error_.status = head.status;
    error_.reason = std::string(head.reason);
    for (const proto::HttpHeader& header : head.headers) {
      error_.headers.emplace_back(std::string(header.name), std::string(header.value));
    }
    return fail(ClientErrorKind::proxy_refused, std::move(message));
  }

  proto::HttpHeadParser parser_;
  std::string proxy_;
  bool credentials_;
  int interim_replies_ = 0;
  std::string target_;
  std::string output_;
  std::string buffer_;
  ClientError error_;
};

}  // namespace

std::unique_ptr<ProxyNegotiation> make_http_connect(const Proxy& proxy, const TunnelTarget& target,
                                                    std::size_t max_head) {
  return std::make_unique<HttpConnect>(proxy, target, max_head);
}

}  // namespace wsx::client_detail
