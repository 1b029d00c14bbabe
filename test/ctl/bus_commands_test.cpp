// kdbusctl names, connections, stats, reload and monitor on a real bus (the
// daemon under test, run as in test/integration), reached with --address or
// through a domain directory.
#include <filesystem>
#include <fstream>
#include <sdbus-c++/sdbus-c++.h>
#include <unistd.h>

#include "bus_fixture.hpp"
#include "kdbusctl_runner.hpp"

namespace kdbusctl::test {
namespace {

using kdbusd::itest::ChildProcess;
using kdbusd::itest::repeat_until_line;

constexpr const char* kName = "org.kdbusd.CtlTest";

class BusCommandsTest : public kdbusd::itest::BusTest {
 protected:
  void SetUp() override {
    BusTest::SetUp();
    owner_ = connect_and_request(kName, 1);   // DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
    waiter_ = connect_and_request(kName, 2);  // DBUS_REQUEST_NAME_REPLY_IN_QUEUE
  }

  // A client that asked for name with no flags, so it queues behind an
  // existing owner; checks the bus's reply code.
  std::unique_ptr<sdbus::IConnection> connect_and_request(const std::string& name, uint32_t expected) {
    auto connection = sdbus::createSessionBusConnectionWithAddress(address());
    auto driver = sdbus::createProxy(*connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    uint32_t reply = 0;
    driver->callMethod("RequestName").onInterface("org.freedesktop.DBus").withArguments(name, 0u).storeResultsTo(reply);
    EXPECT_EQ(reply, expected);
    return connection;
  }

  // Emits org.kdbusd.CtlTest.member on the bus with dbus-send.
  void emit(const std::string& member) {
    auto result = run({"dbus-send", "--bus=" + address(), "--type=signal", "/org/kdbusd/CtlTest",
                       std::string(kName) + "." + member, "string:payload"});
    ASSERT_TRUE(result.ok()) << result.describe();
  }

  static nlohmann::json find(const nlohmann::json& list, const char* key, const std::string& value) {
    for (const auto& entry : list)
      if (entry.value(key, "") == value) return entry;
    return nullptr;
  }

  std::unique_ptr<sdbus::IConnection> owner_, waiter_;
};

TEST_F(BusCommandsTest, NamesListsPrimaryOwnerAndQueue) {
  auto names = kdbusctl_json({"--address", address(), "names"});
  auto entry = find(names, "name", kName);
  ASSERT_FALSE(entry.is_null()) << names.dump();
  EXPECT_EQ(entry["owner"], owner_->getUniqueName());
  EXPECT_EQ(entry["queued"], nlohmann::json::array({waiter_->getUniqueName()}));
  EXPECT_FALSE(find(names, "name", "org.freedesktop.DBus").is_null());
  for (const auto& e : names) EXPECT_NE(e["name"].get<std::string>()[0], ':') << "unique names belong to connections";
}

TEST_F(BusCommandsTest, NamesTableHasOneRowPerName) {
  auto result = kdbusctl({"--address", address(), "names"});
  ASSERT_TRUE(result.ok()) << result.describe();
  EXPECT_THAT(result.out, ::testing::StartsWith("NAME"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex(std::string(kName) + " +" + owner_->getUniqueName() + " +" +
                                                   waiter_->getUniqueName()));
}

TEST_F(BusCommandsTest, ConnectionsReportCredentialsCommAndNames) {
  auto connections = kdbusctl_json({"--address", address(), "connections"});
  auto owner = find(connections, "unique_name", owner_->getUniqueName());
  ASSERT_FALSE(owner.is_null()) << connections.dump();
  EXPECT_EQ(owner["uid"], getuid());
  EXPECT_EQ(owner["pid"], getpid());
  std::string comm;
  std::getline(std::ifstream("/proc/self/comm"), comm);
  EXPECT_EQ(owner["comm"], comm);
  EXPECT_EQ(owner["names"], nlohmann::json::array({kName}));
  EXPECT_TRUE(owner["queued_bytes"].is_number_unsigned() || owner["queued_bytes"].is_null()) << owner.dump();

  // Queued is not owned.
  auto waiter = find(connections, "unique_name", waiter_->getUniqueName());
  ASSERT_FALSE(waiter.is_null());
  EXPECT_EQ(waiter["names"], nlohmann::json::array());
  // Only connections are listed, never the driver.
  for (const auto& c : connections) EXPECT_EQ(c["unique_name"].get<std::string>()[0], ':');
}

TEST_F(BusCommandsTest, ConnectionsTableShowsComm) {
  auto result = kdbusctl({"--address", address(), "connections"});
  ASSERT_TRUE(result.ok()) << result.describe();
  EXPECT_THAT(result.out, ::testing::StartsWith("UNIQUE NAME"));
  EXPECT_THAT(result.out, ::testing::HasSubstr(" kdbusctl "));  // its own connection
  EXPECT_THAT(result.out, ::testing::ContainsRegex(owner_->getUniqueName() + " .* " + kName));
}

TEST_F(BusCommandsTest, StatsCountConnections) {
  auto stats = kdbusctl_json({"--address", address(), "stats"});
  ASSERT_TRUE(stats.is_object()) << stats.dump();
  ASSERT_TRUE(stats.contains("ActiveConnections")) << stats.dump();
  EXPECT_GE(stats["ActiveConnections"].get<uint32_t>(), 3u);  // owner, waiter, kdbusctl
}

TEST_F(BusCommandsTest, ReloadConfig) {
  auto result = kdbusctl({"--address", address(), "reload"});
  EXPECT_TRUE(result.ok()) << result.describe();
}

TEST_F(BusCommandsTest, DomainDirectoryLeadsToTheBus) {
  // DIR/<bus>/bus is where a domain's bus listens (DESIGN.md, "Modes"); a
  // link to this bus's socket stands in for one.
  auto domain = bus_->dir() / "domain";
  std::filesystem::create_directories(domain / "0-test");
  std::filesystem::create_symlink(bus_->dir() / "bus", domain / "0-test" / "bus");
  auto names = kdbusctl_json({"--domain", domain.string(), "names", "0-test"});
  EXPECT_FALSE(find(names, "name", kName).is_null()) << names.dump();
}

TEST_F(BusCommandsTest, MonitorPrintsEachMessageAsJsonLine) {
  ChildProcess monitor({kdbusctl_binary(), "--address", address(), "monitor", "--json"});
  // The monitor attaches asynchronously: emit until it reports one.
  auto line = repeat_until_line(
      monitor, [&] { emit("Ping"); },
      [](const std::string& l) { return l.find("\"Ping\"") != std::string::npos; }, milliseconds(10000));
  ASSERT_TRUE(line) << monitor.transcript();
  auto message = nlohmann::json::parse(*line);
  EXPECT_EQ(message["type"], "signal");
  EXPECT_EQ(message["path"], "/org/kdbusd/CtlTest");
  EXPECT_EQ(message["interface"], kName);
  EXPECT_EQ(message["member"], "Ping");
  EXPECT_EQ(message["signature"], "s");
  EXPECT_EQ(message["destination"], nullptr);
  EXPECT_THAT(message["sender"].get<std::string>(), ::testing::StartsWith(":"));
  EXPECT_TRUE(message["serial"].is_number_unsigned());
}

TEST_F(BusCommandsTest, MonitorPrintsReadableLines) {
  ChildProcess monitor({kdbusctl_binary(), "--address", address(), "monitor"});
  auto line = repeat_until_line(
      monitor, [&] { emit("Ping"); },
      [](const std::string& l) { return l.find("member=Ping") != std::string::npos; }, milliseconds(10000));
  ASSERT_TRUE(line) << monitor.transcript();
  EXPECT_THAT(*line, ::testing::StartsWith("signal sender=:"));
  EXPECT_THAT(*line, ::testing::HasSubstr(" destination=- "));
  EXPECT_THAT(*line, ::testing::HasSubstr(" path=/org/kdbusd/CtlTest interface=org.kdbusd.CtlTest member=Ping signature=s"));
}

TEST_F(BusCommandsTest, MonitorMatchRulesFilter) {
  ChildProcess monitor({kdbusctl_binary(), "--address", address(), "monitor", "--match", "member='Pong'"});
  auto line = repeat_until_line(
      monitor, [&] { emit("Ping"); emit("Pong"); },
      [](const std::string& l) { return l.find("member=Pong") != std::string::npos; }, milliseconds(10000));
  ASSERT_TRUE(line) << monitor.transcript();
  EXPECT_THAT(monitor.transcript(), ::testing::Not(::testing::HasSubstr("member=Ping")));
}

TEST(BusCommandsWithoutBus, FailWithStatusOne) {
  for (const char* command : {"names", "connections", "stats", "monitor", "reload"}) {
    auto result = kdbusctl({"--address", "unix:path=/nonexistent/kdbusctl-test/bus", command});
    EXPECT_EQ(result.exit_status, 1) << command << ": " << result.describe();
    EXPECT_THAT(result.err, ::testing::StartsWith("kdbusctl: ")) << command;
  }
}

}  // namespace
}  // namespace kdbusctl::test
