#include <utility>

#include "server/pending_upgrade.hpp"
#include "server/request_gate.hpp"
#include "wsx/server.hpp"

namespace wsx {

UpgradeResponder& UpgradeResponder::operator=(UpgradeResponder&& other) noexcept {
  if (this != &other) {
    abandon();
    pending_ = std::move(other.pending_);
  }
  return *this;
}

UpgradeResponder::~UpgradeResponder() {
  abandon();
}

void UpgradeResponder::abandon() noexcept {
  if (!pending_) return;
  try {
    respond(UpgradeDecision::reject(500, "the upgrade decision was abandoned\n"));
  } catch (...) {
    // Out of memory for the task: the handshake timeout still ends the wait.
    pending_.reset();
  }
}

bool UpgradeResponder::respond(UpgradeDecision decision) {
  if (!pending_) return false;
  std::shared_ptr<detail::PendingUpgrade> pending = std::move(pending_);
  if (!pending->waiting.load(std::memory_order_acquire)) return false;
  const io::LoopHandle loop = pending->loop;
  return loop.post([pending = std::move(pending), decision = std::move(decision)]() mutable {
    server::deliver_decision(*pending, std::move(decision));
  });
}

bool UpgradeResponder::accept(std::string subprotocol, std::any user_data,
                              proto::HeaderList headers) {
  return respond(
      UpgradeDecision::accept(std::move(subprotocol), std::move(user_data), std::move(headers)));
}

bool UpgradeResponder::reject(int status, std::string body, proto::HeaderList headers) {
  return respond(UpgradeDecision::reject(status, std::move(body), std::move(headers)));
}

bool UpgradeResponder::connection_alive() const noexcept {
  return pending_ && pending_->waiting.load(std::memory_order_acquire);
}

}  // namespace wsx
