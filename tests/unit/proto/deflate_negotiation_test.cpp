#include <gtest/gtest.h>

#include "wsx/proto/deflate.hpp"

namespace wsx::proto {
namespace {

// A server that leaves the client's window alone (client_max_window_bits 15), as the RFC's
// examples assume; wsx's default asks for 11 (see DefaultsAskForASmallClientWindow).
DeflateServerOptions unlimited_server() {
  DeflateServerOptions options;
  options.client_max_window_bits = 15;
  return options;
}

std::optional<DeflateAgreement> negotiate(
    const std::string& header, const DeflateServerOptions& options = unlimited_server()) {
  const auto offers = parse_extensions(header);
  EXPECT_TRUE(offers.has_value()) << header;
  return negotiate_deflate(offers.value_or(std::vector<ExtensionOffer>{}), options);
}

std::string answer(const std::string& header,
                   const DeflateServerOptions& options = unlimited_server()) {
  const auto agreement = negotiate(header, options);
  return agreement ? agreement->response : "(declined)";
}

ExtensionOffer element(const std::string& text) {
  const auto parsed = parse_extensions(text);
  EXPECT_TRUE(parsed && parsed->size() == 1) << text;
  return parsed && parsed->size() == 1 ? parsed->front() : ExtensionOffer{};
}

// The client's verdict on a response element; "" when accepted.
std::string client_error(const std::string& response, const DeflateClientOptions& offered = {}) {
  std::string why;
  const auto params = accept_deflate_response(element(response), offered, &why);
  EXPECT_EQ(params.has_value(), why.empty()) << response;
  return params ? "" : why;
}

DeflateParams client_params(const std::string& response, const DeflateClientOptions& offered = {}) {
  std::string why;
  const auto params = accept_deflate_response(element(response), offered, &why);
  EXPECT_TRUE(params.has_value()) << response << ": " << why;
  return params.value_or(DeflateParams{});
}

// ---- RFC 7692 §7.1.3 examples -------------------------------------------------------------

TEST(Rfc7692Examples, SimplestOfferAndAnswer) {
  const auto agreement = negotiate("permessage-deflate");
  ASSERT_TRUE(agreement.has_value());
  EXPECT_EQ(agreement->response, "permessage-deflate");
  EXPECT_FALSE(agreement->params.server_no_context_takeover);
  EXPECT_FALSE(agreement->params.client_no_context_takeover);
  EXPECT_EQ(agreement->params.server_max_window_bits, 15);
  EXPECT_EQ(agreement->params.client_max_window_bits, 15);

  DeflateClientOptions bare;
  bare.client_max_window_bits = 0;
  EXPECT_EQ(deflate_offer(bare), "permessage-deflate");
  const DeflateParams params = client_params("permessage-deflate", bare);
  EXPECT_EQ(params.server_max_window_bits, 15);
  EXPECT_EQ(params.client_max_window_bits, 15);
  // "the server must not accept the offer with the client_max_window_bits extension parameter"
  EXPECT_NE(client_error("permessage-deflate; client_max_window_bits=10", bare), "");
}

TEST(Rfc7692Examples, ClientAsksForASmallServerWindow) {
  const std::string offer = "permessage-deflate; client_max_window_bits; server_max_window_bits=10";
  DeflateClientOptions client;
  client.server_max_window_bits = 10;
  EXPECT_EQ(deflate_offer(client), offer);

  const auto agreement = negotiate(offer);
  ASSERT_TRUE(agreement.has_value());
  EXPECT_EQ(agreement->response, "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(agreement->params.server_max_window_bits, 10);
  EXPECT_EQ(agreement->params.client_max_window_bits, 15);

  const DeflateParams params = client_params(agreement->response, client);
  EXPECT_EQ(params.server_max_window_bits, 10);
  EXPECT_EQ(params.client_max_window_bits, 15);
}

TEST(Rfc7692Examples, OfferWithFallback) {
  const std::string offers =
      "permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
      "permessage-deflate; client_max_window_bits";
  // We support the first option, so we take it: the first acceptable offer wins.
  EXPECT_EQ(answer(offers), "permessage-deflate; server_max_window_bits=10");
  // A server that could not honour a 10-bit limit (here: 8 bits, which zlib cannot produce)
  // falls back to the second option, answered as in the RFC: "permessage-deflate".
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits; server_max_window_bits=8, "
                   "permessage-deflate; client_max_window_bits"),
            "permessage-deflate");
  // The client accepts either RFC answer to the first option's offer parameters...
  DeflateClientOptions client;
  client.server_max_window_bits = 10;
  EXPECT_EQ(client_error("permessage-deflate; server_max_window_bits=10", client), "");
  // ...and the plain answer to the fallback option.
  EXPECT_EQ(client_error("permessage-deflate", DeflateClientOptions{}), "");
}

// ---- Server: which offers are declined ----------------------------------------------------

TEST(NegotiateDeflate, OtherExtensionsAreIgnored) {
  EXPECT_EQ(answer("x-webkit-deflate-frame, foo; bar=1, permessage-deflate"), "permessage-deflate");
  EXPECT_FALSE(negotiate("x-webkit-deflate-frame").has_value());
  EXPECT_FALSE(negotiate("").has_value());
  EXPECT_FALSE(negotiate("Permessage-Deflate").has_value());  // registered name, exact
}

TEST(NegotiateDeflate, InvalidOffersAreDeclinedAndTheNextOneTaken) {
  for (const char* bad : {
           "permessage-deflate; foo",
           "permessage-deflate; Server_No_Context_Takeover",
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
           "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
           "permessage-deflate; server_no_context_takeover=1",
           "permessage-deflate; client_no_context_takeover=\"x\"",
           "permessage-deflate; server_max_window_bits",
           "permessage-deflate; server_max_window_bits=7",
           "permessage-deflate; server_max_window_bits=16",
           "permessage-deflate; server_max_window_bits=0",
           "permessage-deflate; server_max_window_bits=08",
           "permessage-deflate; server_max_window_bits=010",
           "permessage-deflate; server_max_window_bits=1a",
           "permessage-deflate; server_max_window_bits=+9",
           "permessage-deflate; server_max_window_bits=999999999999999999999",
           "permessage-deflate; client_max_window_bits=7",
           "permessage-deflate; client_max_window_bits=16",
           "permessage-deflate; client_max_window_bits=09",
           "permessage-deflate; client_max_window_bits=-9",
       }) {
    EXPECT_FALSE(negotiate(bad).has_value()) << bad;
    const auto fallback =
        negotiate(std::string(bad) + ", permessage-deflate; client_no_context_takeover");
    ASSERT_TRUE(fallback.has_value()) << bad;
    EXPECT_EQ(fallback->response, "permessage-deflate; client_no_context_takeover") << bad;
  }
}

TEST(NegotiateDeflate, ServerWindowOfEightIsDeclinedBecauseZlibCannotProduceIt) {
  EXPECT_FALSE(negotiate("permessage-deflate; server_max_window_bits=8").has_value());
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=9"),
            "permessage-deflate; server_max_window_bits=9");
}

TEST(NegotiateDeflate, QuotedValuesAreAccepted) {
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=\"10\""),
            "permessage-deflate; server_max_window_bits=10");
}

// ---- Server: what the answer says ---------------------------------------------------------

TEST(NegotiateDeflate, ServerNoContextTakeoverIsEchoedOrAnnounced) {
  const auto asked = negotiate("permessage-deflate; server_no_context_takeover");
  ASSERT_TRUE(asked.has_value());
  EXPECT_EQ(asked->response, "permessage-deflate; server_no_context_takeover");
  EXPECT_TRUE(asked->params.server_no_context_takeover);

  DeflateServerOptions options;
  options.server_no_context_takeover = true;
  const auto unasked = negotiate("permessage-deflate", options);
  EXPECT_EQ(unasked->response, "permessage-deflate; server_no_context_takeover");
  EXPECT_TRUE(unasked->params.server_no_context_takeover);
}

TEST(NegotiateDeflate, ClientNoContextTakeoverIsEchoedOrRequested) {
  const auto offered = negotiate("permessage-deflate; client_no_context_takeover");
  EXPECT_EQ(offered->response, "permessage-deflate; client_no_context_takeover");
  EXPECT_TRUE(offered->params.client_no_context_takeover);

  DeflateServerOptions options;
  options.client_no_context_takeover = true;
  const auto requested = negotiate("permessage-deflate", options);
  EXPECT_EQ(requested->response, "permessage-deflate; client_no_context_takeover");
  EXPECT_TRUE(requested->params.client_no_context_takeover);
}

TEST(NegotiateDeflate, ServerWindowIsTheSmallerOfOursAndTheOffer) {
  DeflateServerOptions options;
  options.server_max_window_bits = 10;
  // §7.1.2.1: the server may announce server_max_window_bits even if it was not offered.
  EXPECT_EQ(answer("permessage-deflate", options), "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=12", options),
            "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=9", options),
            "permessage-deflate; server_max_window_bits=9");
  EXPECT_EQ(negotiate("permessage-deflate; server_max_window_bits=9", options)
                ->params.server_max_window_bits,
            9);
  // An offered limit is always answered, even at 15.
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=15"),
            "permessage-deflate; server_max_window_bits=15");
  // Our own limit of 8 is raised to 9, the smallest zlib compresses with.
  options.server_max_window_bits = 8;
  EXPECT_EQ(answer("permessage-deflate", options), "permessage-deflate; server_max_window_bits=9");
}

TEST(NegotiateDeflate, ClientWindowIsAnsweredOnlyWhenOffered) {
  DeflateServerOptions options;
  options.client_max_window_bits = 10;
  // §7.1.2.2: not offered → must not be answered; we then inflate with up to 15 bits.
  const auto not_offered = negotiate("permessage-deflate", options);
  EXPECT_EQ(not_offered->response, "permessage-deflate");
  EXPECT_EQ(not_offered->params.client_max_window_bits, 15);
  // Offered without a value → our limit.
  const auto bare = negotiate("permessage-deflate; client_max_window_bits", options);
  EXPECT_EQ(bare->response, "permessage-deflate; client_max_window_bits=10");
  EXPECT_EQ(bare->params.client_max_window_bits, 10);
  // Offered with a value → never more than it.
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits=12", options),
            "permessage-deflate; client_max_window_bits=10");
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits=9", options),
            "permessage-deflate; client_max_window_bits=9");
  EXPECT_EQ(negotiate("permessage-deflate; client_max_window_bits=8", options)
                ->params.client_max_window_bits,
            8);
  // With a limit of 15, an offered value below 15 is answered so both sides agree on it.
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits=11"),
            "permessage-deflate; client_max_window_bits=11");
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits"), "permessage-deflate");
}

TEST(NegotiateDeflate, DefaultsAskForASmallClientWindow) {
  // Browsers offer a valueless client_max_window_bits; by default wsx answers 11 so that its
  // inflater needs 2 KiB of window instead of 32 KiB.
  const DeflateServerOptions defaults;
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits", defaults),
            "permessage-deflate; client_max_window_bits=11");
  EXPECT_EQ(negotiate("permessage-deflate; client_max_window_bits", defaults)
                ->params.client_max_window_bits,
            11);
  // Not offered: the client's window cannot be limited.
  EXPECT_EQ(answer("permessage-deflate", defaults), "permessage-deflate");
  EXPECT_EQ(negotiate("permessage-deflate", defaults)->params.client_max_window_bits, 15);
}

TEST(NegotiateDeflate, EverythingAtOnce) {
  DeflateServerOptions options;
  options.server_max_window_bits = 12;
  options.client_max_window_bits = 11;
  const auto agreement =
      negotiate("permessage-deflate; client_max_window_bits; server_no_context_takeover", options);
  ASSERT_TRUE(agreement.has_value());
  EXPECT_EQ(agreement->response,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; "
            "client_max_window_bits=11");
}

// ---- Client: the offer --------------------------------------------------------------------

TEST(DeflateOffer, DefaultsOfferClientWindowWithoutValue) {
  EXPECT_EQ(deflate_offer({}), "permessage-deflate; client_max_window_bits");
}

TEST(DeflateOffer, AllParameters) {
  DeflateClientOptions options;
  options.client_no_context_takeover = true;
  options.server_no_context_takeover = true;
  options.client_max_window_bits = 10;
  options.server_max_window_bits = 12;
  EXPECT_EQ(deflate_offer(options),
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
            "client_max_window_bits=10; server_max_window_bits=12");
}

TEST(DeflateOffer, WindowValuesAreClampedToWhatZlibCanKeep) {
  DeflateClientOptions options;
  options.client_max_window_bits = 8;  // zlib compresses with 9 at least
  options.server_max_window_bits = 8;  // asking the peer for 8 is fine
  EXPECT_EQ(deflate_offer(options),
            "permessage-deflate; client_max_window_bits=9; server_max_window_bits=8");
  options.client_max_window_bits = 200;
  options.server_max_window_bits = 200;
  EXPECT_EQ(deflate_offer(options),
            "permessage-deflate; client_max_window_bits; server_max_window_bits=15");
}

// ---- Client: checking the answer ----------------------------------------------------------

TEST(AcceptDeflateResponse, RejectsMalformedParameters) {
  EXPECT_EQ(client_error("permessage-deflate; foo=1"),
            "unknown permessage-deflate parameter \"foo\"");
  EXPECT_EQ(
      client_error("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
      "permessage-deflate parameter server_no_context_takeover repeated");
  EXPECT_EQ(client_error("permessage-deflate; client_no_context_takeover=yes"),
            "client_no_context_takeover takes no value");
  EXPECT_EQ(client_error("permessage-deflate; server_max_window_bits"),
            "server_max_window_bits needs a value");
  EXPECT_EQ(client_error("permessage-deflate; server_max_window_bits=16"),
            "server_max_window_bits=16 is not a window size from 8 to 15");
  EXPECT_EQ(client_error("permessage-deflate; server_max_window_bits=09"),
            "server_max_window_bits=09 is not a window size from 8 to 15");
  EXPECT_EQ(client_error("x-webkit-deflate-frame"),
            "server accepted extension \"x-webkit-deflate-frame\", not permessage-deflate");
}

TEST(AcceptDeflateResponse, ServerMayAddNoContextTakeoverAndWindowUnasked) {
  const DeflateParams params = client_params(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
      "server_max_window_bits=8");
  EXPECT_TRUE(params.server_no_context_takeover);
  EXPECT_TRUE(params.client_no_context_takeover);
  EXPECT_EQ(params.server_max_window_bits, 8);
  EXPECT_EQ(params.client_max_window_bits, 15);
}

TEST(AcceptDeflateResponse, WhatWeAskedForMustBeConfirmed) {
  DeflateClientOptions offered;
  offered.server_no_context_takeover = true;
  EXPECT_EQ(client_error("permessage-deflate", offered),
            "server did not confirm the server_no_context_takeover we asked for");
  offered = {};
  offered.server_max_window_bits = 10;
  EXPECT_EQ(client_error("permessage-deflate", offered),
            "server did not confirm the server_max_window_bits=10 we asked for");
  EXPECT_EQ(client_error("permessage-deflate; server_max_window_bits=11", offered),
            "server_max_window_bits=11 is larger than the 10 we asked for");
  EXPECT_EQ(
      client_params("permessage-deflate; server_max_window_bits=9", offered).server_max_window_bits,
      9);
}

TEST(AcceptDeflateResponse, ClientWindowOnlyIfOfferedAndWithAValue) {
  DeflateClientOptions none;
  none.client_max_window_bits = 0;
  EXPECT_EQ(client_error("permessage-deflate; client_max_window_bits=10", none),
            "server sent client_max_window_bits, which we did not offer");
  EXPECT_EQ(client_error("permessage-deflate; client_max_window_bits"),
            "client_max_window_bits in a response needs a value");
  EXPECT_EQ(client_params("permessage-deflate; client_max_window_bits=10").client_max_window_bits,
            10);

  DeflateClientOptions eleven;
  eleven.client_max_window_bits = 11;
  EXPECT_EQ(client_error("permessage-deflate; client_max_window_bits=12", eleven),
            "client_max_window_bits=12 is larger than the 11 we offered");
  // Our offered value is a promise we keep when the server does not answer it.
  EXPECT_EQ(client_params("permessage-deflate", eleven).client_max_window_bits, 11);
  EXPECT_EQ(
      client_params("permessage-deflate; client_max_window_bits=9", eleven).client_max_window_bits,
      9);
}

TEST(AcceptDeflateResponse, ClientWindowOfEightCannotBeHonoured) {
  EXPECT_EQ(client_error("permessage-deflate; client_max_window_bits=8"),
            "server asked for client_max_window_bits=8, which zlib cannot compress with");
}

TEST(AcceptDeflateResponse, OurClientNoContextTakeoverHintIsKept) {
  DeflateClientOptions offered;
  offered.client_no_context_takeover = true;
  EXPECT_TRUE(client_params("permessage-deflate", offered).client_no_context_takeover);
}

TEST(AcceptDeflateResponse, NullWhyIsAllowed) {
  EXPECT_FALSE(accept_deflate_response(element("permessage-deflate; x"), {}, nullptr).has_value());
}

// ---- Both sides agree ---------------------------------------------------------------------

TEST(DeflateNegotiation, ClientAndServerAgreeOnEveryCombination) {
  int agreed = 0;
  for (int flags = 0; flags < 16; ++flags) {
    for (std::uint8_t client_bits : {0, 9, 12, 15, 16}) {
      for (std::uint8_t asked_server_bits : {0, 9, 13, 15}) {
        for (std::uint8_t our_server_bits : {9, 11, 15}) {
          for (std::uint8_t our_client_bits : {9, 10, 15}) {
            DeflateClientOptions client;
            client.client_no_context_takeover = flags & 1;
            client.server_no_context_takeover = flags & 2;
            client.client_max_window_bits = client_bits;
            client.server_max_window_bits = asked_server_bits;
            DeflateServerOptions server;
            server.client_no_context_takeover = flags & 4;
            server.server_no_context_takeover = flags & 8;
            server.server_max_window_bits = our_server_bits;
            server.client_max_window_bits = our_client_bits;

            const auto agreement = negotiate(deflate_offer(client), server);
            ASSERT_TRUE(agreement.has_value()) << deflate_offer(client);
            std::string why;
            const auto params = accept_deflate_response(element(agreement->response), client, &why);
            ASSERT_TRUE(params.has_value())
                << deflate_offer(client) << " → " << agreement->response << ": " << why;
            EXPECT_EQ(params->server_no_context_takeover,
                      agreement->params.server_no_context_takeover);
            EXPECT_EQ(params->client_no_context_takeover,
                      agreement->params.client_no_context_takeover);
            EXPECT_EQ(params->server_max_window_bits, agreement->params.server_max_window_bits);
            // The client may compress with a smaller window than the server allows.
            EXPECT_LE(params->client_max_window_bits, agreement->params.client_max_window_bits);
            ++agreed;
          }
        }
      }
    }
  }
  EXPECT_EQ(agreed, 16 * 5 * 4 * 3 * 3);
}

}  // namespace
}  // namespace wsx::proto
