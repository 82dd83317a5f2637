// Bounds an event-loop test in time: if the loop still runs after `limit`, the test fails and
// the loop stops, so no test can hang. The default is a hang guard, not a deadline: a test that
// takes 1 s alone can take 5 s of wall time under ASan on a loaded 2-core machine.
#pragma once

#include <gtest/gtest.h>

#include <chrono>

#include "wsx/io/event_loop.hpp"

namespace wsx::test {

inline wsx::io::TimerId arm_watchdog(wsx::io::EventLoop& loop,
                                     std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  return loop.run_after(limit, [&loop, limit] {
    ADD_FAILURE() << "watchdog: the loop still ran after " << limit.count() << " ms";
    loop.stop();
  });
}

}  // namespace wsx::test
