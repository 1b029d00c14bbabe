// The benchmark still works: kdbus-bench smoke runs every scenario once, with
// a handful of operations, against the daemon under test and peer to peer
// (the socketpair and the least bus). It asserts that each run succeeded and
// nothing about time: the figures themselves come from bench/run.sh by hand.
#include <gtest/gtest.h>

#include <string>

#include "bus_fixture.hpp"
#include "process.hpp"

namespace kdbusd::itest {
namespace {

using BenchmarkTest = BusTest;

TEST_F(BenchmarkTest, SmokeRunsEveryScenario) {
  CommandResult r = run_command(
      {KDBUS_BENCH_BINARY, "smoke", "--address", bus_->address(), "--pid", std::to_string(bus_->pid())},
      milliseconds(60000));
  ASSERT_TRUE(r.ok()) << r.describe();
  // 5 peer-to-peer runs (rtt, payload, and connect against the least bus
  // with nothing, a list and kdbusd's pin added) and 8 on the bus.
  EXPECT_NE(r.out.find("smoke: 13 runs, 0 failed"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("scenario=connect bus=p2p pin=identity"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace kdbusd::itest
