#include "serve_exec_env.hpp"

#include <algorithm>
#include <map>

namespace wsx::tool {
namespace {

// "127.0.0.1:51234" → {"127.0.0.1", "51234"}; "[::1]:51234" → {"::1", "51234"}.
std::pair<std::string, std::string> split_address(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return {std::string(address), ""};
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {std::string(host), std::string(address.substr(colon + 1))};
}

// Host header "example.org:8080" → "example.org"; "[::1]:80" → "::1".
std::string host_name(std::string_view host) {
  if (host.starts_with('[')) {
    const std::size_t end = host.find(']');
    return std::string(end == std::string_view::npos ? host.substr(1) : host.substr(1, end - 1));
  }
  return std::string(host.substr(0, host.find(':')));
}

std::string sanitized_value(std::string_view value) {
  std::string out(value);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) c = '?';
  }
  return out;
}

// "X-Forwarded-For" → "HTTP_X_FORWARDED_FOR"; "" for a name that must not pass.
std::string header_variable(std::string_view name) {
  std::string variable = "HTTP_";
  for (char c : name) {
    if (c >= 'a' && c <= 'z') {
      variable += static_cast<char>(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      variable += c;
    } else if (c == '-') {
      variable += '_';
    } else {
      return {};
    }
  }
  if (variable == "HTTP_" || variable == "HTTP_PROXY") return {};
  return variable;
}

}  // namespace

std::vector<std::string> exec_environment(const UpgradeRequest& request, const ExecSite& site,
                                          const char* const* inherited) {
  std::map<std::string, std::string> set;  // sorted, one value per name
  const auto [remote_host, remote_port] = split_address(request.remote_address);
  set["REMOTE_ADDR"] = remote_host;
  set["REMOTE_PORT"] = remote_port;
  set["SERVER_NAME"] = sanitized_value(host_name(request.host));
  set["SERVER_PORT"] = site.server_port;
  set["SERVER_PROTOCOL"] = "HTTP/1.1";
  set["SERVER_SOFTWARE"] = "wsx/" + site.version;
  set["GATEWAY_INTERFACE"] = "CGI/1.1";
  set["REQUEST_METHOD"] = sanitized_value(request.method);
  set["REQUEST_URI"] = sanitized_value(request.target);
  set["SCRIPT_NAME"] = site.route;
  std::string_view path_info = request.path;
  if (path_info.starts_with(site.route)) path_info.remove_prefix(site.route.size());
  set["PATH_INFO"] = sanitized_value(path_info);
  set["QUERY_STRING"] = sanitized_value(request.query);
  if (site.tls) set["HTTPS"] = "on";
  if (request.head != nullptr) {
    for (const proto::HttpHeader& header : request.head->headers) {
      const std::string variable = header_variable(header.name);
      if (variable.empty()) continue;
      auto [it, inserted] = set.try_emplace(variable, sanitized_value(header.value));
      if (!inserted) it->second += ", " + sanitized_value(header.value);  // RFC 9110 §5.3
    }
  }

  std::vector<std::string> environment;
  for (const char* const* entry = inherited; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string name(text.substr(0, text.find('=')));
    // The server's own HTTP_* (or REMOTE_ADDR...) would pose as the request's.
    if (name.starts_with("HTTP_") || set.contains(name) || name == "HTTPS") continue;
    environment.emplace_back(text);
  }
  for (const auto& [name, value] : set) environment.push_back(name + "=" + value);
  return environment;
}

}  // namespace wsx::tool
