#include "wsx/broker.hpp"

namespace wsx {

std::string_view describe(BrokerState state) noexcept {
  switch (state) {
    case BrokerState::idle:
      return "idle";
    case BrokerState::connecting:
      return "connecting";
    case BrokerState::connected:
      return "connected";
    case BrokerState::disconnected:
      return "disconnected";
    case BrokerState::stopped:
      return "stopped";
  }
  return "unknown";
}

std::string_view describe(RecoveryStatus status) noexcept {
  switch (status) {
    case RecoveryStatus::complete:
      return "complete";
    case RecoveryStatus::truncated:
      return "truncated";
    case RecoveryStatus::unavailable:
      return "unavailable";
  }
  return "unknown";
}

}  // namespace wsx
