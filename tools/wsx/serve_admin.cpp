#include "serve_admin.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>

#include "wsx/io/socket_address.hpp"

namespace wsx::tool {
namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

// An IP literal (IPv6 without brackets) is loopback; "::ffff:127.0.0.1" counts as its IPv4.
bool is_loopback_ip(std::string_view host) {
  if (iequals_prefix(host, "::ffff:") && host.find('.') != std::string_view::npos) {
    host.remove_prefix(7);
  }
  const std::optional<io::SocketAddress> address = io::SocketAddress::parse(host, 0);
  return address && address->is_loopback();
}

// "[::1]:80" → "::1", "127.0.0.1:80" → "127.0.0.1", "localhost" → "localhost".
std::string_view host_part(std::string_view authority) {
  if (authority.starts_with('[')) {
    const std::size_t end = authority.find(']');
    if (end == std::string_view::npos) return {};
    const std::string_view rest = authority.substr(end + 1);
    if (!rest.empty() && !rest.starts_with(':')) return {};
    return authority.substr(1, end - 1);
  }
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(':') != colon) return {};  // bare IPv6
  return authority.substr(0, colon);
}

std::optional<std::string_view> bearer_token(const HttpRequest& request) {
  const std::optional<std::string_view> header = request.header("Authorization");
  if (!header || !iequals_prefix(*header, "Bearer ")) return std::nullopt;
  std::string_view token = header->substr(7);
  while (token.starts_with(' ')) token.remove_prefix(1);
  while (token.ends_with(' ')) token.remove_suffix(1);
  return token;
}

proto::HttpResponse text_response(int status, std::string body) {
  proto::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

}  // namespace

bool is_loopback_peer(std::string_view remote_address) {
  return is_loopback_ip(host_part(remote_address));
}

bool is_loopback_host(std::string_view host_header) {
  const std::string_view host = host_part(host_header);
  if (host.empty()) return false;
  if (host.size() == 9 && iequals_prefix(host, "localhost")) return true;
  return is_loopback_ip(host);
}

bool tokens_equal(std::string_view presented, std::string_view expected) {
  unsigned char a[SHA256_DIGEST_LENGTH];
  unsigned char b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

bool HostGuard::permits(std::string_view host_header) const {
  if (!enabled || is_loopback_host(host_header)) return true;
  const std::string_view host = host_part(host_header);
  if (host.empty()) return false;
  return std::any_of(allowed.begin(), allowed.end(), [host](const std::string& name) {
    return name.size() == host.size() && iequals_prefix(host, name);
  });
}

AdminVerdict admin_verdict(const HttpRequest& request, std::string_view token) {
  if (!token.empty()) {
    if (const std::optional<std::string_view> presented = bearer_token(request)) {
      if (tokens_equal(*presented, token)) return AdminVerdict::allowed;
    }
  }
  const std::string_view fetch_site = request.header("Sec-Fetch-Site").value_or("same-origin");
  const bool from_other_site = fetch_site != "same-origin" && fetch_site != "none";
  if (is_loopback_peer(request.remote_address) &&
      is_loopback_host(request.header("Host").value_or("")) && !from_other_site) {
    return AdminVerdict::allowed;
  }
  return token.empty() ? AdminVerdict::forbidden : AdminVerdict::unauthorized;
}

proto::HttpResponse admin_response(const HttpRequest& request, std::string_view token,
                                   const ConnectionRegistry& registry) {
  if (request.method != "GET" && request.method != "HEAD") {
    proto::HttpResponse response = text_response(405, "only GET and HEAD here\n");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return response;
  }
  switch (admin_verdict(request, token)) {
    case AdminVerdict::forbidden:
      return text_response(403,
                           "the admin endpoint answers clients on this machine only (start "
                           "wsx serve with --admin-token to reach it from elsewhere)\n");
    case AdminVerdict::unauthorized: {
      proto::HttpResponse response =
          text_response(401, "send Authorization: Bearer with the --admin-token\n");
      response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"wsx admin\"");
      return response;
    }
    case AdminVerdict::allowed:
      break;
  }
  proto::HttpResponse response;
  response.status = 200;
  response.body = registry.json(std::chrono::steady_clock::now(), std::chrono::system_clock::now());
  response.headers.emplace_back("Content-Type", "application/json");
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

}  // namespace wsx::tool
