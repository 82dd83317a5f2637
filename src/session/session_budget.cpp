// The Session's side of the server's memory budget (memory_budget.hpp): what it holds, and what
// the ledger may do to it. Apart from session.cpp so that the hooks there stay small.
#include <algorithm>

#include "session/session.hpp"

namespace wsx::session {

std::size_t Session::buffered_footprint() const noexcept {
  const std::size_t own = queued_bytes() + (connection_ ? connection_.assembling_amount() : 0);
  if (!carrier_keeps_bytes_) return own;
  return own + carrier().unsent_bytes() + carrier().held_input_bytes();
}

std::size_t Session::carrier_read_allowance() {
  BudgetLedger* ledger = budget_ledger();
  return ledger != nullptr ? ledger->read_allowance(*this) : SIZE_MAX;
}

void Session::set_budget_stopped(bool stopped) {
  if (stopped) {
    carrier().pause_reading();
  } else if (!paused_reading_) {  // the backpressure pause (after_output) still holds otherwise
    carrier().resume_reading();
  }
}

bool Session::open_for_messages() const noexcept {
  return !transport_closed_ && protocol_open();
}

void Session::close_over_budget(std::chrono::milliseconds drop_after) {
  Entry entry(*this);
  if (start_close(1013, "server memory budget exceeded: try again later") != SendStatus::success) {
    return;
  }
  // A peer that let this much pile up is unlikely to read the close frame behind it: its
  // memory is given back after `drop_after` rather than the full close timeout.
  loop().arm(timeout(), std::min(drop_after, config_->options.close_timeout));
}

}  // namespace wsx::session
