#include "session/memory_budget.hpp"

#include <algorithm>

#include "session/session.hpp"

namespace wsx::session {

MemoryPressure BudgetPolicy::pressure(std::size_t used) const noexcept {
  if (limit == 0 || used < soft_limit()) return MemoryPressure::none;
  return used < limit ? MemoryPressure::high : MemoryPressure::full;
}

std::size_t BudgetPolicy::read_allowance(std::size_t used, std::size_t footprint) const noexcept {
  switch (pressure(used)) {
    case MemoryPressure::none:
      return SIZE_MAX;
    case MemoryPressure::high:
      return footprint <= heavy_footprint ? pressured_read_size : 0;
    case MemoryPressure::full:
      return footprint == 0 ? pressured_read_size : 0;
  }
  return SIZE_MAX;
}

bool BudgetPolicy::may_queue(std::size_t used, std::size_t footprint,
                             std::size_t size) const noexcept {
  const bool light_after = size <= heavy_footprint && footprint <= heavy_footprint - size;
  switch (pressure(used)) {
    case MemoryPressure::none:
      return true;
    case MemoryPressure::high:
      return light_after;
    case MemoryPressure::full:
      return footprint == 0 && light_after;
  }
  return true;
}

std::vector<std::size_t> choose_connections_to_close(std::span<const StoppedConnection> stopped,
                                                     std::size_t used, const BudgetPolicy& policy,
                                                     std::chrono::nanoseconds timeout) {
  std::vector<std::size_t> chosen;
  // Those already closing free their bytes soon: counted as gone, so that every check while
  // they wait for their peer does not close more.
  for (const StoppedConnection& c : stopped) {
    if (!c.closable) used -= std::min(used, c.footprint);
  }
  if (policy.pressure(used) == MemoryPressure::none) return chosen;
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < stopped.size(); ++i) {
    const StoppedConnection& c = stopped[i];
    if (c.closable && c.footprint > heavy_footprint && c.stopped_for >= timeout) {
      candidates.push_back(i);
    }
  }
  // Heaviest first: closing the fewest connections frees the most.
  std::stable_sort(candidates.begin(), candidates.end(), [&](std::size_t a, std::size_t b) {
    return stopped[a].footprint > stopped[b].footprint;
  });
  for (const std::size_t i : candidates) {
    if (used < policy.soft_limit()) break;
    chosen.push_back(i);
    used -= std::min(used, stopped[i].footprint);
  }
  return chosen;
}

BudgetLedger::~BudgetLedger() {
  if (timer_ != 0) loop_.cancel(timer_);
  budget_.add(local_);
}

void BudgetLedger::charge(std::int64_t delta) noexcept {
  local_ += delta;
  if (local_ >= forward_chunk || local_ <= -forward_chunk) {
    budget_.add(local_);
    local_ = 0;
  }
}

void BudgetLedger::update(Session& session) {
  std::size_t& charged = session.budget_charged();
  const std::size_t footprint = session.buffered_footprint();
  // The common case of a well-behaved connection: nothing held, nothing to decide.
  if (footprint == 0 && charged == 0 && !session.budget_stopped()) return;
  if (footprint != charged) {
    charge(static_cast<std::int64_t>(footprint) - static_cast<std::int64_t>(charged));
    charged = footprint;
  }
  const std::size_t used = this->used();
  // Without pressure anyone may read (BudgetPolicy::read_allowance's first answer), decided
  // inline: the usual case after every read and flush of a busy connection (callgrind, echo of
  // 16-byte text: ~2 instructions per message less).
  const bool may_read = !budget_.pressured(used) || budget_.policy().may_read(used, footprint);
  if (!may_read && !session.budget_stopped()) {
    stop(session);
  } else if (may_read && session.budget_stopped()) {
    resume(session);
  }
}

std::size_t BudgetLedger::read_allowance_under_pressure(Session& session, std::size_t used) {
  const std::size_t allowance = budget_.policy().read_allowance(used, session.budget_charged());
  if (allowance == 0 && !session.budget_stopped()) stop(session);
  return allowance;
}

bool BudgetLedger::may_queue_under_pressure(const Session& session, std::size_t size,
                                            std::size_t used) const noexcept {
  return budget_.policy().may_queue(used, session.buffered_footprint(), size);
}

void BudgetLedger::forget(Session& session) noexcept {
  charge(-static_cast<std::int64_t>(session.budget_charged()));
  session.budget_charged() = 0;
  // Out of the stopped list, without calling into the dying session.
  if (session.budget_stopped()) unlist(session);
}

void BudgetLedger::unlist(Session& session) noexcept {
  // Swapped with the last entry; slots are indices + 1 (0: not stopped).
  const std::uint32_t slot = session.budget_slot();
  stopped_[slot - 1] = stopped_.back();
  stopped_[slot - 1].session->set_budget_slot(slot);
  stopped_.pop_back();
  session.set_budget_slot(0);
  if (stopped_.empty() && timer_ != 0) {
    loop_.cancel(timer_);
    timer_ = 0;
  }
}

void BudgetLedger::stop(Session& session) {
  stopped_.push_back({&session, loop_.now()});
  session.set_budget_slot(static_cast<std::uint32_t>(stopped_.size()));
  session.set_budget_stopped(true);
  if (timer_ == 0) timer_ = loop_.run_every(check_period, [this] { check(); });
}

void BudgetLedger::resume(Session& session) {
  unlist(session);
  session.set_budget_stopped(false);
}

void BudgetLedger::check() {
  const BudgetPolicy& policy = budget_.policy();
  std::size_t used = this->used();
  // Memory was freed (here or on other threads): let those the rules allow read again.
  // Backwards, because resume() moves the last entry into the freed slot.
  for (std::size_t i = stopped_.size(); i-- > 0;) {
    Session& session = *stopped_[i].session;
    if (policy.may_read(used, session.budget_charged())) resume(session);
  }
  if (policy.pressure(used) == MemoryPressure::none || stopped_.empty()) return;
  std::vector<StoppedConnection> view;
  view.reserve(stopped_.size());
  const io::Clock::time_point now = loop_.now();
  for (const Stopped& entry : stopped_) {
    view.push_back(
        {entry.session->budget_charged(), now - entry.since, entry.session->open_for_messages()});
  }
  std::vector<Session*> chosen;
  for (const std::size_t i : choose_connections_to_close(view, used, policy, budget_.timeout())) {
    chosen.push_back(stopped_[i].session);
  }
  // Closing starts the closing handshake (the transport stays open, so no session is destroyed
  // here); the memory is freed when the peer answers or after the shortened close timeout.
  for (Session* session : chosen) session->close_over_budget(budget_.timeout());
}

}  // namespace wsx::session
