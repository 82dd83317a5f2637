// permessage-deflate (RFC 7692) from the client's side: what is offered, what the server's answer
// makes of it, and compressed echoes both ways; and a server without the extension.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "client_recorder.hpp"
#include "wsx/client.hpp"

namespace wsx {
namespace {

using test::ClientHarness;

TEST(ClientDeflate, NegotiatesAndEchoesCompressed) {
  struct Case {
    proto::DeflateClientOptions client;
    proto::DeflateServerOptions server;
    proto::DeflateParams expected;
  };
  std::vector<Case> cases(4);
  cases[1].client.client_no_context_takeover = true;
  cases[1].client.server_no_context_takeover = true;
  cases[1].expected.client_no_context_takeover = true;
  cases[1].expected.server_no_context_takeover = true;
  cases[2].client.server_max_window_bits = 10;
  cases[2].server.client_max_window_bits = 9;
  cases[2].expected.server_max_window_bits = 10;
  cases[2].expected.client_max_window_bits = 9;
  cases[3].server.server_no_context_takeover = true;
  cases[3].server.client_no_context_takeover = true;
  cases[3].expected.client_no_context_takeover = true;
  cases[3].expected.server_no_context_takeover = true;
  // Offered without a value, client_max_window_bits is answered with the server's choice.
  for (Case& c : cases) {
    if (c.client.client_max_window_bits == 16) {
      c.expected.client_max_window_bits = c.server.client_max_window_bits;
    }
  }
  std::string big;
  for (int n = 0; n < 5000; ++n) big += "compressible line " + std::to_string(n % 17) + "\n";
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    test::TestServerOptions server_options;
    server_options.deflate = cases[i].server;
    ClientHarness h(server_options);
    test::echo_then_close(h.recorder, {big, big, "small", ""});
    ClientOptions options = h.options();
    options.deflate = cases[i].client;
    std::optional<proto::DeflateParams> negotiated;
    auto open = h.recorder.on_open;
    h.recorder.on_open = [&, open](WebSocket& ws) {
      negotiated = h.client->deflate();
      open(ws);
    };
    h.run(options);
    EXPECT_TRUE(h.recorder.compressed);
    EXPECT_TRUE(h.server.last_compressed);
    ASSERT_TRUE(negotiated.has_value());
    EXPECT_EQ(negotiated->client_no_context_takeover, cases[i].expected.client_no_context_takeover);
    EXPECT_EQ(negotiated->server_no_context_takeover, cases[i].expected.server_no_context_takeover);
    EXPECT_EQ(negotiated->client_max_window_bits, cases[i].expected.client_max_window_bits);
    EXPECT_EQ(negotiated->server_max_window_bits, cases[i].expected.server_max_window_bits);
    EXPECT_EQ(h.recorder.messages, (std::vector<std::string>{big, big, "small", ""}));
    EXPECT_NE(h.server.last_request.find("Sec-WebSocket-Extensions: permessage-deflate"),
              std::string::npos);
  }
}

TEST(ClientDeflate, ServerWithoutDeflateMeansUncompressed) {
  ClientHarness h;
  test::echo_then_close(h.recorder, {"plain"});
  ClientOptions options = h.options();
  options.deflate = proto::DeflateClientOptions{};
  h.run(options);
  EXPECT_FALSE(h.recorder.compressed);
  EXPECT_EQ(h.recorder.messages, std::vector<std::string>{"plain"});
}

}  // namespace
}  // namespace wsx
