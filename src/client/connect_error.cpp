#include "connect_error.hpp"

#include <string>

namespace wsx::client_detail {
namespace {

std::string race_summary(const io::RaceResult& race, std::size_t resolved) {
  std::string summary;
  for (const io::SocketAddress& tried : race.tried) {
    std::string outcome = "no answer";
    for (const io::RaceFailure& failure : race.failures) {
      if (failure.address == tried) outcome = failure.error.message();
    }
    summary += (summary.empty() ? "" : ", ") + tried.to_string() + " (" + outcome + ")";
  }
  if (resolved > race.tried.size()) {
    summary += "; " + std::to_string(resolved - race.tried.size()) + " more not tried";
  }
  return summary;
}

}  // namespace

ClientError connect_error(const io::RaceResult& race, std::size_t resolved,
                          std::chrono::milliseconds timeout) {
  ClientError error;
  error.address = race.address.to_string();
  if (race.error == std::errc::timed_out) {
    error.kind = ClientErrorKind::connect_timeout;
    error.message = "connecting to " + error.address + " timed out after " +
                    std::to_string(timeout.count()) + " ms";
  } else {
    error.kind = ClientErrorKind::connect_failed;
    error.message = "connecting to " + error.address + " failed: " + race.error.message();
  }
  // One address speaks for itself; with several, each one's fate is part of the story.
  if (resolved > 1) error.message += "; tried " + race_summary(race, resolved);
  return error;
}

}  // namespace wsx::client_detail
