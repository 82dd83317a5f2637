#include "session/memory_budget.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

namespace wsx::session {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::size_t mib = 1024 * 1024;

TEST(BudgetPolicy, PressureLevelsAtSevenEighthsAndAtTheLimit) {
  const BudgetPolicy policy{64 * mib};
  EXPECT_EQ(policy.soft_limit(), 56 * mib);
  EXPECT_EQ(policy.pressure(0), MemoryPressure::none);
  EXPECT_EQ(policy.pressure(56 * mib - 1), MemoryPressure::none);
  EXPECT_EQ(policy.pressure(56 * mib), MemoryPressure::high);
  EXPECT_EQ(policy.pressure(64 * mib - 1), MemoryPressure::high);
  EXPECT_EQ(policy.pressure(64 * mib), MemoryPressure::full);
  EXPECT_EQ(policy.pressure(1000 * mib), MemoryPressure::full);
}

TEST(BudgetPolicy, NoLimitMeansNoPressure) {
  const BudgetPolicy policy{0};
  EXPECT_EQ(policy.pressure(SIZE_MAX / 2), MemoryPressure::none);
  EXPECT_EQ(policy.read_allowance(SIZE_MAX / 2, SIZE_MAX / 2), SIZE_MAX);
}

TEST(BudgetPolicy, EveryoneReadsFreelyBelowTheSoftLimit) {
  const BudgetPolicy policy{64 * mib};
  EXPECT_EQ(policy.read_allowance(10 * mib, 0), SIZE_MAX);
  EXPECT_EQ(policy.read_allowance(10 * mib, 33 * mib), SIZE_MAX);
}

TEST(BudgetPolicy, UnderPressureHeavyConnectionsStopAndLightOnesReadALittle) {
  const BudgetPolicy policy{64 * mib};
  const std::size_t used = 60 * mib;
  EXPECT_EQ(policy.read_allowance(used, 0), pressured_read_size);
  EXPECT_EQ(policy.read_allowance(used, heavy_footprint), pressured_read_size);
  EXPECT_EQ(policy.read_allowance(used, heavy_footprint + 1), 0u);
  EXPECT_FALSE(policy.may_read(used, 2 * mib));
  EXPECT_TRUE(policy.may_read(used, 100));
}

TEST(BudgetPolicy, AtTheLimitOnlyConnectionsHoldingNothingRead) {
  const BudgetPolicy policy{64 * mib};
  EXPECT_EQ(policy.read_allowance(64 * mib, 0), pressured_read_size);
  EXPECT_EQ(policy.read_allowance(64 * mib, 1), 0u);
  EXPECT_EQ(policy.read_allowance(200 * mib, 18), 0u);
}

TEST(BudgetPolicy, SendsAreQueuedFreelyBelowTheSoftLimitOrWithoutALimit) {
  EXPECT_TRUE(BudgetPolicy{0}.may_queue(SIZE_MAX / 2, SIZE_MAX / 2, 100 * mib));
  const BudgetPolicy policy{64 * mib};
  EXPECT_TRUE(policy.may_queue(10 * mib, 0, 16 * mib));
  EXPECT_TRUE(policy.may_queue(10 * mib, 33 * mib, 1 * mib));
}

// A server that publishes to peers that never read grows their queues without reading a byte:
// under pressure a send may not make a connection heavy.
TEST(BudgetPolicy, UnderPressureASendMayNotMakeAConnectionHeavy) {
  const BudgetPolicy policy{64 * mib};
  const std::size_t used = 60 * mib;
  EXPECT_TRUE(policy.may_queue(used, 0, 100));
  EXPECT_TRUE(policy.may_queue(used, 0, heavy_footprint));
  EXPECT_TRUE(policy.may_queue(used, heavy_footprint - 100, 100));
  EXPECT_FALSE(policy.may_queue(used, heavy_footprint - 100, 101));
  EXPECT_FALSE(policy.may_queue(used, 0, heavy_footprint + 1));
  EXPECT_FALSE(policy.may_queue(used, 2 * mib, 1));
  EXPECT_FALSE(policy.may_queue(used, 0, SIZE_MAX));  // no overflow in the sum
}

TEST(BudgetPolicy, AtTheLimitOnlyALightMessageOntoAnEmptyConnection) {
  const BudgetPolicy policy{64 * mib};
  EXPECT_TRUE(policy.may_queue(64 * mib, 0, 100));
  EXPECT_FALSE(policy.may_queue(64 * mib, 1, 100));
  EXPECT_FALSE(policy.may_queue(64 * mib, 0, heavy_footprint + 1));
  EXPECT_FALSE(policy.may_queue(200 * mib, 18, 1));
}

std::vector<std::size_t> choose(const std::vector<StoppedConnection>& stopped, std::size_t used) {
  return choose_connections_to_close(stopped, used, BudgetPolicy{64 * mib}, seconds(2));
}

TEST(ChooseConnectionsToClose, NothingWithoutPressure) {
  const std::vector<StoppedConnection> stopped = {{30 * mib, seconds(10), true}};
  EXPECT_TRUE(choose(stopped, 50 * mib).empty());
}

TEST(ChooseConnectionsToClose, HeaviestFirstUntilUnderTheSoftLimit) {
  const std::vector<StoppedConnection> stopped = {
      {4 * mib, seconds(3), true},
      {10 * mib, seconds(3), true},
      {6 * mib, seconds(3), true},
      {8 * mib, seconds(3), true},
  };
  // 70 MiB held, soft limit 56 MiB: 10 + 8 bring it to 52.
  EXPECT_EQ(choose(stopped, 70 * mib), (std::vector<std::size_t>{1, 3}));
  // Just at the soft limit: the heaviest alone is enough.
  EXPECT_EQ(choose(stopped, 56 * mib), (std::vector<std::size_t>{1}));
}

TEST(ChooseConnectionsToClose, OnlyThoseStoppedLongEnough) {
  const std::vector<StoppedConnection> stopped = {
      {20 * mib, milliseconds(1999), true},
      {5 * mib, seconds(2), true},
  };
  EXPECT_EQ(choose(stopped, 70 * mib), (std::vector<std::size_t>{1}));
}

TEST(ChooseConnectionsToClose, LightOnesAreNeverClosed) {
  const std::vector<StoppedConnection> stopped = {
      {heavy_footprint, seconds(5), true},
      {heavy_footprint + 1, seconds(5), true},
  };
  EXPECT_EQ(choose(stopped, 100 * mib), (std::vector<std::size_t>{1}));
}

TEST(ChooseConnectionsToClose, ThoseAlreadyClosingCountAsFreed) {
  std::vector<StoppedConnection> stopped = {
      {12 * mib, seconds(5), false},  // closing: its bytes go soon
      {3 * mib, seconds(5), true},
  };
  // 66 - 12 = 54 MiB: under the soft limit, nobody else needs closing.
  EXPECT_TRUE(choose(stopped, 66 * mib).empty());
  // 70 - 12 = 58 MiB: still over; the closable one goes.
  EXPECT_EQ(choose(stopped, 70 * mib), (std::vector<std::size_t>{1}));
  stopped[0].closable = true;
  EXPECT_EQ(choose(stopped, 70 * mib), (std::vector<std::size_t>{0, 1}));
}

TEST(ChooseConnectionsToClose, AllCandidatesWhenEvenAllAreNotEnough) {
  const std::vector<StoppedConnection> stopped = {
      {1 * mib, seconds(5), true},
      {2 * mib, seconds(5), true},
  };
  EXPECT_EQ(choose(stopped, 200 * mib), (std::vector<std::size_t>{1, 0}));
}

TEST(ChooseConnectionsToClose, EqualFootprintsKeepTheirOrder) {
  const std::vector<StoppedConnection> stopped = {
      {5 * mib, seconds(5), true},
      {5 * mib, seconds(5), true},
      {5 * mib, seconds(5), true},
  };
  EXPECT_EQ(choose(stopped, 65 * mib), (std::vector<std::size_t>{0, 1}));
}

}  // namespace
}  // namespace wsx::session
