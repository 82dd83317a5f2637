// permessage-deflate negotiation (RFC 7692 §5, §7.1): the server picks an offer, the client
// checks the answer. Names are matched exactly as registered (lower case), like the RFC's ABNF.
//
// zlib cannot compress with an LZ77 window of 2^8 bytes (deflateInit2 silently uses 2^9), so
// this side never promises to compress with 8 bits: a server declines an offer that demands
// server_max_window_bits=8, a client fails a response that demands client_max_window_bits=8,
// and our own offer says client_max_window_bits=9 when asked for 8. Asking the PEER for 8 is fine.
#include <algorithm>
#include <string>

#include "wsx/proto/deflate.hpp"

namespace wsx::proto {

namespace {

constexpr std::string_view extension_name = "permessage-deflate";
constexpr std::string_view server_no_context_takeover = "server_no_context_takeover";
constexpr std::string_view client_no_context_takeover = "client_no_context_takeover";
constexpr std::string_view server_max_window_bits = "server_max_window_bits";
constexpr std::string_view client_max_window_bits = "client_max_window_bits";
constexpr std::uint8_t min_zlib_compress_bits = 9;

// The parameters of one permessage-deflate element, each checked on its own (§7.1).
struct DeflateElement {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::optional<std::uint8_t> server_max_window_bits;
  bool client_max_window_bits = false;  // present, with or without a value
  std::optional<std::uint8_t> client_max_window_bits_value;
};

// "a decimal integer value without leading zeroes between 8 to 15, inclusive" (§7.1.2.1).
std::optional<std::uint8_t> parse_window_bits(std::string_view text) {
  if (text.empty() || text.size() > 2 || text[0] == '0') return std::nullopt;
  int value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (!is_valid_window_bits(value)) return std::nullopt;
  return static_cast<std::uint8_t>(value);
}

// Reads `ext`'s parameters into `out`; returns why they are invalid, or "" when they are valid.
std::string read_element(const ExtensionOffer& ext, DeflateElement& out) {
  bool seen[4] = {false, false, false, false};
  for (const ExtensionParam& param : ext.params) {
    const std::string_view name = param.name;
    int index = -1;
    if (name == server_no_context_takeover) index = 0;
    if (name == client_no_context_takeover) index = 1;
    if (name == server_max_window_bits) index = 2;
    if (name == client_max_window_bits) index = 3;
    if (index < 0) return "unknown permessage-deflate parameter \"" + param.name + "\"";
    if (seen[index]) return "permessage-deflate parameter " + param.name + " repeated";
    seen[index] = true;
    if (index <= 1) {
      if (param.value) return param.name + " takes no value";
      (index == 0 ? out.server_no_context_takeover : out.client_no_context_takeover) = true;
      continue;
    }
    if (!param.value) {
      if (index == 2) return "server_max_window_bits needs a value";
      out.client_max_window_bits = true;
      continue;
    }
    const std::optional<std::uint8_t> bits = parse_window_bits(*param.value);
    if (!bits) return param.name + "=" + *param.value + " is not a window size from 8 to 15";
    if (index == 2) {
      out.server_max_window_bits = bits;
    } else {
      out.client_max_window_bits = true;
      out.client_max_window_bits_value = bits;
    }
  }
  return {};
}

// What deflate_offer sends for client_max_window_bits: 0 (absent), 16 (no value) or 9..15.
std::uint8_t offered_client_bits(const DeflateClientOptions& options) {
  const std::uint8_t bits = options.client_max_window_bits;
  if (bits == 0 || bits > max_window_bits) return bits == 0 ? 0 : 16;
  return std::max(bits, min_zlib_compress_bits);
}

// What deflate_offer sends for server_max_window_bits: 0 (absent) or 8..15.
std::uint8_t offered_server_bits(const DeflateClientOptions& options) {
  const std::uint8_t bits = options.server_max_window_bits;
  if (bits == 0) return 0;
  return std::clamp(bits, min_window_bits, max_window_bits);
}

void add_flag(ExtensionOffer& ext, std::string_view name) {
  ext.params.push_back({std::string(name), std::nullopt});
}

void add_bits(ExtensionOffer& ext, std::string_view name, std::uint8_t bits) {
  ext.params.push_back({std::string(name), std::to_string(bits)});
}

// Our answer to one offer, or nullopt to decline it.
std::optional<DeflateAgreement> answer(const DeflateElement& offer,
                                       const DeflateServerOptions& options) {
  DeflateAgreement agreement;
  DeflateParams& params = agreement.params;
  ExtensionOffer response{std::string(extension_name), {}};

  std::uint8_t server_bits =
      std::clamp(options.server_max_window_bits, min_zlib_compress_bits, max_window_bits);
  if (offer.server_max_window_bits) {
    if (*offer.server_max_window_bits < min_zlib_compress_bits) return std::nullopt;
    server_bits = std::min(server_bits, *offer.server_max_window_bits);
  }
  params.server_max_window_bits = server_bits;

  // §7.1.2.2: client_max_window_bits may be answered only if it was offered, and then with at
  // most the offered value. Without it the client may use any window, and we inflate with 15.
  std::uint8_t client_bits = max_window_bits;
  if (offer.client_max_window_bits) {
    client_bits =
        std::clamp(options.client_max_window_bits, min_zlib_compress_bits, max_window_bits);
    if (offer.client_max_window_bits_value) {
      client_bits = std::min(client_bits, *offer.client_max_window_bits_value);
    }
  }
  params.client_max_window_bits = client_bits;

  // §7.1.1.1: an offered server_no_context_takeover is accepted only by echoing it; either flag
  // may also be sent unasked. An offered client_no_context_takeover is echoed too: the client
  // resets anyway, and saying so lets our inflater drop its window between messages.
  params.server_no_context_takeover =
      offer.server_no_context_takeover || options.server_no_context_takeover;
  params.client_no_context_takeover =
      offer.client_no_context_takeover || options.client_no_context_takeover;

  if (params.server_no_context_takeover) add_flag(response, server_no_context_takeover);
  if (params.client_no_context_takeover) add_flag(response, client_no_context_takeover);
  // §7.1.2.1: required when offered, allowed unasked (to announce a smaller window).
  if (offer.server_max_window_bits || server_bits < max_window_bits) {
    add_bits(response, server_max_window_bits, server_bits);
  }
  if (offer.client_max_window_bits && client_bits < max_window_bits) {
    add_bits(response, client_max_window_bits, client_bits);
  }
  agreement.response = format_extension(response);
  return agreement;
}

}  // namespace

std::optional<DeflateAgreement> negotiate_deflate(const std::vector<ExtensionOffer>& offers,
                                                  const DeflateServerOptions& options) {
  for (const ExtensionOffer& offer : offers) {
    if (offer.name != extension_name) continue;
    DeflateElement element;
    if (!read_element(offer, element).empty()) continue;  // declined (§5: not fatal)
    if (std::optional<DeflateAgreement> agreement = answer(element, options)) return agreement;
  }
  return std::nullopt;
}

std::string deflate_offer(const DeflateClientOptions& options) {
  ExtensionOffer offer{std::string(extension_name), {}};
  if (options.client_no_context_takeover) add_flag(offer, client_no_context_takeover);
  if (options.server_no_context_takeover) add_flag(offer, server_no_context_takeover);
  const std::uint8_t client_bits = offered_client_bits(options);
  if (client_bits == 16) add_flag(offer, client_max_window_bits);
  if (client_bits != 0 && client_bits != 16) add_bits(offer, client_max_window_bits, client_bits);
  if (const std::uint8_t server_bits = offered_server_bits(options); server_bits != 0) {
    add_bits(offer, server_max_window_bits, server_bits);
  }
  return format_extension(offer);
}

std::optional<DeflateParams> accept_deflate_response(const ExtensionOffer& response,
                                                     const DeflateClientOptions& offered,
                                                     std::string* why) {
  const auto fail = [why](std::string message) -> std::optional<DeflateParams> {
    if (why) *why = std::move(message);
    return std::nullopt;
  };
  if (response.name != extension_name) {
    return fail("server accepted extension \"" + response.name + "\", not permessage-deflate");
  }
  DeflateElement element;
  if (std::string invalid = read_element(response, element); !invalid.empty()) {
    return fail(std::move(invalid));
  }
  const std::uint8_t asked_server_bits = offered_server_bits(offered);
  const std::uint8_t offered_client = offered_client_bits(offered);

  if (offered.server_no_context_takeover && !element.server_no_context_takeover) {
    return fail("server did not confirm the server_no_context_takeover we asked for");
  }
  if (asked_server_bits != 0) {
    if (!element.server_max_window_bits) {
      return fail("server did not confirm the server_max_window_bits=" +
                  std::to_string(asked_server_bits) + " we asked for");
    }
    if (*element.server_max_window_bits > asked_server_bits) {
      return fail("server_max_window_bits=" + std::to_string(*element.server_max_window_bits) +
                  " is larger than the " + std::to_string(asked_server_bits) + " we asked for");
    }
  }
  std::uint8_t client_bits = offered_client >= min_window_bits && offered_client <= max_window_bits
                                 ? offered_client
                                 : max_window_bits;
  if (element.client_max_window_bits) {
    if (offered_client == 0) {
      return fail("server sent client_max_window_bits, which we did not offer");
    }
    if (!element.client_max_window_bits_value) {
      return fail("client_max_window_bits in a response needs a value");
    }
    const std::uint8_t bits = *element.client_max_window_bits_value;
    if (bits > client_bits) {
      return fail("client_max_window_bits=" + std::to_string(bits) + " is larger than the " +
                  std::to_string(client_bits) + " we offered");
    }
    if (bits < min_zlib_compress_bits) {
      return fail("server asked for client_max_window_bits=8, which zlib cannot compress with");
    }
    client_bits = bits;
  }

  DeflateParams params;
  params.server_no_context_takeover = element.server_no_context_takeover;
  // Our offer's client_no_context_takeover is a promise we keep even if it is not echoed.
  params.client_no_context_takeover =
      element.client_no_context_takeover || offered.client_no_context_takeover;
  params.server_max_window_bits = element.server_max_window_bits.value_or(max_window_bits);
  params.client_max_window_bits = client_bits;
  return params;
}

}  // namespace wsx::proto
