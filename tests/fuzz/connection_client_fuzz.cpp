// A client Connection fed arbitrary bytes in arbitrary pieces, with its send API called in
// between (see connection_fuzz_driver.hpp for the input layout and the checked properties).
#include "connection_fuzz_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return wsx::proto::fuzz::run_connection_fuzz(wsx::proto::Role::client, data, size);
}
