// SOCKS5 (RFC 1928) with username/password authentication (RFC 1929): greeting, optional
// authentication, CONNECT. Every reply is read to its exact length and checked field by field.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "proxy_negotiation.hpp"

namespace wsx::client_detail {

std::string_view socks5_reply_name(std::uint8_t code) noexcept {
  switch (code) {
    case 0x00:
      return "succeeded";
    case 0x01:
      return "general SOCKS server failure";
    case 0x02:
      return "connection not allowed by ruleset";
    case 0x03:
      return "network unreachable";
    case 0x04:
      return "host unreachable";
    case 0x05:
      return "connection refused";
    case 0x06:
      return "TTL expired";
    case 0x07:
      return "command not supported";
    case 0x08:
      return "address type not supported";
    default:
      return "unassigned reply code";
  }
}

namespace {

constexpr std::uint8_t version = 0x05;
constexpr std::uint8_t method_none = 0x00;
constexpr std::uint8_t method_password = 0x02;
constexpr std::uint8_t no_acceptable_method = 0xFF;
constexpr std::uint8_t password_version = 0x01;  // RFC 1929's sub-negotiation version
constexpr std::uint8_t command_connect = 0x01;
constexpr std::uint8_t atyp_ipv4 = 0x01;
constexpr std::uint8_t atyp_name = 0x03;
constexpr std::uint8_t atyp_ipv6 = 0x04;

std::string hex_byte(std::uint8_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", value);
  return text;
}

class Socks5 final : public ProxyNegotiation {
 public:
  Socks5(const Proxy& proxy, const TunnelTarget& target)
      : proxy_(proxy.to_string()),
        username_(proxy.username.value_or("")),
        password_(proxy.password),
        offer_password_(proxy.username.has_value()),
        target_(target) {
    output_ += static_cast<char>(version);
    if (offer_password_) {  // both: a proxy that needs no credentials may still pick "none"
      output_ += '\x02';
      output_ += static_cast<char>(method_none);
      output_ += static_cast<char>(method_password);
    } else {
      output_ += '\x01';
      output_ += static_cast<char>(method_none);
    }
  }

  std::string take_output() override { return std::exchange(output_, {}); }

  // Each reply answers our last message and the proxy must wait for the next one, so a reply
  // is always alone in the buffer once complete (advance() checks).
  TunnelStatus feed(std::string_view bytes) override {
    if (stage_ == Stage::done) return TunnelStatus::failed;
    buffer_.append(bytes);
    switch (stage_) {
      case Stage::method:
        return on_method();
      case Stage::password:
        return on_password();
      case Stage::connect:
        return on_connect();
      case Stage::done:
        break;
    }
    return TunnelStatus::failed;
  }

  ClientError closed_early(std::string_view reason) const override {
    ClientError error;
    error.kind = ClientErrorKind::proxy_failed;
    error.message = "the SOCKS5 proxy " + proxy_ + " closed the connection " + waiting_for() +
                    (reason.empty() ? "" : ": " + std::string(reason));
    return error;
  }

  const ClientError& error() const override { return error_; }

 private:
  enum class Stage : std::uint8_t { method, password, connect, done };

  std::string waiting_for() const {
    switch (stage_) {
      case Stage::method:
        return "before answering the greeting";
      case Stage::password:
        return "before answering the username/password";
      default:
        return "before answering CONNECT";
    }
  }

  TunnelStatus advance(Stage next, std::size_t consumed) {
    buffer_.erase(0, consumed);
    if (!buffer_.empty()) {
      return fail(ClientErrorKind::proxy_failed, "the SOCKS5 proxy " + proxy_ + " sent " +
                                                     std::to_string(buffer_.size()) +
                                                     " bytes more than its reply");
    }
    stage_ = next;
    return TunnelStatus::need_more;
  }

  TunnelStatus on_method() {
    if (buffer_.size() < 2) return TunnelStatus::need_more;
    const auto ver = static_cast<std::uint8_t>(buffer_[0]);
    const auto method = static_cast<std::uint8_t>(buffer_[1]);
    if (ver != version) return not_socks5(ver);
    if (method == no_acceptable_method) {
      return fail(ClientErrorKind::proxy_refused,
                  "the SOCKS5 proxy " + proxy_ +
                      " accepts none of the authentication methods "
                      "offered (" +
                      std::string(offer_password_ ? "none, username/password" : "none") + ")" +
                      (offer_password_ ? "" : "; does it want socks5h://USER:PASSWORD@...?"));
    }
    if (method == method_none) {
      TunnelStatus status = advance(Stage::connect, 2);
      if (status == TunnelStatus::need_more) send_connect();
      return status;
    }
    if (method == method_password && offer_password_) {
      TunnelStatus status = advance(Stage::password, 2);
      if (status == TunnelStatus::need_more) send_password();
      return status;
    }
    return fail(ClientErrorKind::proxy_failed, "the SOCKS5 proxy " + proxy_ +
                                                   " chose authentication method " +
                                                   hex_byte(method) + ", which was not offered");
  }

  TunnelStatus on_password() {
    if (buffer_.size() < 2) return TunnelStatus::need_more;
    const auto ver = static_cast<std::uint8_t>(buffer_[0]);
    const auto status = static_cast<std::uint8_t>(buffer_[1]);
    if (ver != password_version) {
      return fail(ClientErrorKind::proxy_failed,
                  "the SOCKS5 proxy " + proxy_ + " answered the username/password with version " +
                      hex_byte(ver) + " (RFC 1929 says 0x01)");
    }
    if (status != 0) {
      return fail(ClientErrorKind::proxy_refused, "the SOCKS5 proxy " + proxy_ +
                                                      " rejected the username/password (status " +
                                                      hex_byte(status) + ")");
    }
    TunnelStatus next = advance(Stage::connect, 2);
    if (next == TunnelStatus::need_more) send_connect();
    return next;
  }

  TunnelStatus on_connect() {
    // VER REP RSV ATYP BND.ADDR BND.PORT; a refusal is known from REP alone.
    if (buffer_.size() < 2) return TunnelStatus::need_more;
    const auto ver = static_cast<std::uint8_t>(buffer_[0]);
    const auto rep = static_cast<std::uint8_t>(buffer_[1]);
    if (ver != version) return not_socks5(ver);
    if (rep != 0) {
      error_.socks_reply = rep;
      return fail(ClientErrorKind::proxy_refused,
                  "the SOCKS5 proxy " + proxy_ + " could not connect to " + target_text() + ": " +
                      std::string(socks5_reply_name(rep)) + " (reply " + hex_byte(rep) + ")");
    }
    if (buffer_.size() < 5) return TunnelStatus::need_more;
    if (buffer_[2] != 0) {
      return fail(ClientErrorKind::proxy_failed,
                  "the SOCKS5 proxy " + proxy_ + " sent a reply whose reserved byte is " +
                      hex_byte(static_cast<std::uint8_t>(buffer_[2])));
    }
    std::size_t length = 0;
    switch (static_cast<std::uint8_t>(buffer_[3])) {
      case atyp_ipv4:
        length = 4 + 4 + 2;
        break;
      case atyp_ipv6:
        length = 4 + 16 + 2;
        break;
      case atyp_name:
        length = 4 + 1 + static_cast<std::uint8_t>(buffer_[4]) + 2;
        break;
      default:
        return fail(ClientErrorKind::proxy_failed,
                    "the SOCKS5 proxy " + proxy_ + " sent a reply with address type " +
                        hex_byte(static_cast<std::uint8_t>(buffer_[3])));
    }
    if (buffer_.size() < length) return TunnelStatus::need_more;
    const TunnelStatus status = advance(Stage::done, length);
    return status == TunnelStatus::need_more ? TunnelStatus::established : status;
  }

  void send_password() {
    output_ += static_cast<char>(password_version);
    output_ += static_cast<char>(username_.size());
    output_ += username_;
    output_ += static_cast<char>(password_.size());
    output_ += password_;
  }

  void send_connect() {
    output_ += static_cast<char>(version);
    output_ += static_cast<char>(command_connect);
    output_ += '\0';
    std::uint16_t port = target_.port;
    if (target_.resolved) {
      port = target_.resolved->port();
      append_address(target_.resolved->ip());
    } else if (io::is_ip_literal(target_.host)) {
      append_address(target_.host);
    } else {  // the proxy resolves the name (socks5h://); a URL's host is at most 253 bytes
      output_ += static_cast<char>(atyp_name);
      output_ += static_cast<char>(target_.host.size());
      output_ += target_.host;
    }
    output_ += static_cast<char>(port >> 8);
    output_ += static_cast<char>(port & 0xFF);
  }

  void append_address(const std::string& ip) {
    unsigned char bytes[16];
    if (::inet_pton(AF_INET, ip.c_str(), bytes) == 1) {
      output_ += static_cast<char>(atyp_ipv4);
      output_.append(reinterpret_cast<const char*>(bytes), 4);
    } else if (::inet_pton(AF_INET6, ip.c_str(), bytes) == 1) {
      output_ += static_cast<char>(atyp_ipv6);
      output_.append(reinterpret_cast<const char*>(bytes), 16);
    }
  }

  std::string target_text() const {
    const std::string host = target_.resolved ? target_.resolved->to_string()
                             : target_.host.find(':') != std::string::npos
                                 ? "[" + target_.host + "]:" + std::to_string(target_.port)
                                 : target_.host + ":" + std::to_string(target_.port);
    return host;
  }

  TunnelStatus not_socks5(std::uint8_t ver) {
    std::string message =
        "the proxy " + proxy_ + " is not a SOCKS5 proxy (version byte " + hex_byte(ver) + ")";
    if (ver == 'H') message += "; it answers like an HTTP server: use http://";
    return fail(ClientErrorKind::proxy_failed, std::move(message));
  }

  TunnelStatus fail(ClientErrorKind kind, std::string message) {
    error_.kind = kind;
    error_.message = std::move(message);
    stage_ = Stage::done;
    return TunnelStatus::failed;
  }

  std::string proxy_;
  std::string username_;
  std::string password_;
  bool offer_password_;
  TunnelTarget target_;
  std::string output_;
  std::string buffer_;
  Stage stage_ = Stage::method;
  ClientError error_;
};

}  // namespace

std::unique_ptr<ProxyNegotiation> make_socks5(const Proxy& proxy, const TunnelTarget& target) {
  return std::make_unique<Socks5>(proxy, target);
}

}  // namespace wsx::client_detail
