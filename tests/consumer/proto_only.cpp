// Linked with wsx::proto alone: the sans-I/O core computes a handshake answer (RFC 6455 §1.3).
#include <wsx/proto/handshake.hpp>

#include <cstdio>

int main() {
  const std::string key = wsx::proto::accept_key("dGhlIHNhbXBsZSBub25jZQ==");
  std::printf("proto: Sec-WebSocket-Accept %s\n", key.c_str());
  return key == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ? 0 : 1;
}
