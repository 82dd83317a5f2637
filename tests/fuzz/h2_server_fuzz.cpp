// Fuzzes the HTTP/2 input path of the server: bytes from a peer into H2Connection, whose
// requests go through the same handshake check and answer as the server's (extended CONNECT
// accepted with a streaming 200 fed by what the stream receives; other requests answered
// whole), with the output drained after every piece of input as the event loop does.
// Input: one selector byte, then the bytes.
//   bit 0: prepend the client preface and an empty SETTINGS (the fuzzer starts past it);
//   bits 1-7: the size of each piece fed (0: all at once), so frame boundaries move.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "h2/h2_connection.hpp"

using namespace wsx;

namespace {

// Echoes each accepted stream's DATA back on it, like a WebSocket echo would.
class EchoSource final : public h2::H2Source {
 public:
  std::string pending;
  Chunk read(std::span<std::uint8_t> buffer) override {
    const std::size_t n = std::min(buffer.size(), pending.size());
    std::copy_n(pending.data(), n, buffer.data());
    pending.erase(0, n);
    return {n, false};
  }
};

class Handler final : public h2::H2Handler {
 public:
  h2::H2Connection* connection = nullptr;
  std::map<std::int32_t, EchoSource> echoes;

  void on_request(h2::H2Request& request) override {
    const proto::UpgradeCheck check = proto::check_upgrade_request(request.head);
    if (check.request) {
      proto::AcceptOptions options;
      options.subprotocols = {"chat"};
      options.deflate = proto::DeflateServerOptions{};
      const proto::Accepted accepted = proto::accept_upgrade(*check.request, options);
      connection->respond_streaming(request.stream_id, 200, accepted.headers,
                                    echoes[request.stream_id]);
      return;
    }
    proto::HttpResponse response = check.rejection;
    if (request.head.method == "GET") response = {.status = 200, .body = "hello"};
    connection->respond(request.stream_id, response, request.head.method == "HEAD");
  }
  void on_data(std::int32_t id, std::span<const std::uint8_t> data) override {
    const auto it = echoes.find(id);
    if (it != echoes.end() && it->second.pending.size() < 65536) {
      it->second.pending.append(reinterpret_cast<const char*>(data.data()), data.size());
      connection->resume(id);
    }
    connection->consume(id, data.size());
  }
  void on_stream_closed(std::int32_t id, std::uint32_t) override { echoes.erase(id); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  std::string input;
  if (selector & 1) input.assign("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0", 33);
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);
  Handler handler;
  h2::H2Limits limits;
  limits.max_concurrent_streams = 8;
  h2::H2Connection connection(handler, limits);
  handler.connection = &connection;
  const std::size_t piece = (selector >> 1) == 0 ? input.size() : selector >> 1;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    const std::size_t n = std::min(piece, input.size() - at);
    const bool ok =
        connection.receive({reinterpret_cast<const std::uint8_t*>(input.data()) + at, n});
    for (auto out = connection.output(); !out.empty(); out = connection.output()) {
      connection.consume_output(out.size());
    }
    if (!ok) break;
  }
  return 0;
}
