#include "client/connect_error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace wsx {
namespace {

using namespace std::chrono_literals;
using client_detail::connect_error;

io::SocketAddress at(const char* ip, std::uint16_t port) {
  return *io::SocketAddress::parse(ip, port);
}

TEST(ConnectError, OneRefusedAddressKeepsTheShortMessage) {
  io::RaceResult race;
  race.address = at("127.0.0.1", 9);
  race.error = std::make_error_code(std::errc::connection_refused);
  race.tried = {race.address};
  race.failures = {{race.address, race.error}};
  const ClientError error = connect_error(race, 1, 2s);
  EXPECT_EQ(error.kind, ClientErrorKind::connect_failed);
  EXPECT_EQ(error.address, "127.0.0.1:9");
  EXPECT_EQ(error.message, "connecting to 127.0.0.1:9 failed: " + race.error.message());
}

TEST(ConnectError, TimeoutNamesEveryAddressAndWhatBecameOfIt) {
  io::RaceResult race;
  race.address = at("::1", 443);
  race.error = std::make_error_code(std::errc::timed_out);
  race.tried = {at("::1", 443), at("127.0.0.1", 443)};
  race.failures = {{at("127.0.0.1", 443), std::make_error_code(std::errc::connection_refused)}};
  const ClientError error = connect_error(race, 2, 1500ms);
  EXPECT_EQ(error.kind, ClientErrorKind::connect_timeout);
  EXPECT_EQ(error.address, "[::1]:443");
  const std::string refused = std::make_error_code(std::errc::connection_refused).message();
  EXPECT_EQ(error.message,
            "connecting to [::1]:443 timed out after 1500 ms; tried [::1]:443 (no "
            "answer), 127.0.0.1:443 (" +
                refused + ")");
}

TEST(ConnectError, AddressesNeverReachedAreCounted) {
  io::RaceResult race;
  race.address = at("127.0.0.1", 80);
  race.error = std::make_error_code(std::errc::timed_out);
  race.tried = {race.address};
  const ClientError error = connect_error(race, 3, 300ms);
  EXPECT_EQ(error.kind, ClientErrorKind::connect_timeout);
  EXPECT_NE(error.message.find("127.0.0.1:80 (no answer); 2 more not tried"), std::string::npos)
      << error.message;
}

TEST(ConnectError, EveryAddressFailedReportsTheLastFailure) {
  io::RaceResult race;
  race.address = at("127.0.0.2", 80);
  race.error = std::make_error_code(std::errc::network_unreachable);
  race.tried = {at("127.0.0.1", 80), at("127.0.0.2", 80)};
  race.failures = {{at("127.0.0.1", 80), std::make_error_code(std::errc::connection_refused)},
                   {at("127.0.0.2", 80), race.error}};
  const ClientError error = connect_error(race, 2, 1s);
  EXPECT_EQ(error.kind, ClientErrorKind::connect_failed);
  EXPECT_EQ(error.address, "127.0.0.2:80");
  EXPECT_NE(error.message.find("failed: " + race.error.message()), std::string::npos);
  EXPECT_NE(error.message.find("127.0.0.1:80 (" +
                               std::make_error_code(std::errc::connection_refused).message() + ")"),
            std::string::npos)
      << error.message;
}

}  // namespace
}  // namespace wsx
