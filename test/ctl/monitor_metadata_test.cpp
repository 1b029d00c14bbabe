// kdbusctl monitor --metadata on the real daemon: the monitor opts in with
// org.kdbusd.Bus1.UpdateAttachFlags and prints header field 128 of every
// message it sees (DESIGN.md "Fixed interfaces"), as JSON and as text.
#include <unistd.h>

#include "bus_fixture.hpp"
#include "kdbusctl_runner.hpp"

namespace kdbusctl::test {
namespace {

using kdbusd::itest::ChildProcess;
using kdbusd::itest::repeat_until_line;
using ::testing::HasSubstr;

constexpr const char* kInterface = "org.kdbusd.CtlMetadata";

class MonitorMetadataTest : public kdbusd::itest::BusTest {
 protected:
  void emit(const std::string& member) {
    auto result = run({"dbus-send", "--bus=" + address(), "--type=signal", "/org/kdbusd/CtlMetadata",
                       std::string(kInterface) + "." + member});
    ASSERT_TRUE(result.ok()) << result.describe();
  }
};

TEST_F(MonitorMetadataTest, JsonLinesCarryTheSendersCreds) {
  ChildProcess monitor({kdbusctl_binary(), "--address", address(), "monitor", "--metadata", "--json"});
  auto line = repeat_until_line(
      monitor, [&] { emit("Ping"); },
      [](const std::string& l) { return l.find("\"Ping\"") != std::string::npos; }, milliseconds(10000));
  ASSERT_TRUE(line) << monitor.transcript();
  auto message = nlohmann::json::parse(*line);
  EXPECT_EQ(message["interface"], kInterface);
  const auto& md = message["metadata"];
  ASSERT_TRUE(md.is_object()) << *line;
  // dbus-send runs as we do; the bus captured its credentials at send time.
  EXPECT_EQ(md["Creds"]["uid"], ::getuid()) << *line;
  EXPECT_EQ(md["Creds"]["gid"], ::getgid()) << *line;
  EXPECT_GT(md["Pids"]["pid"].get<uint32_t>(), 0u) << *line;
  EXPECT_GT(md["Timestamp"]["seqnum"].get<uint64_t>(), 0u) << *line;

  // Messages from the bus itself carry only a Timestamp.
  auto from_driver = repeat_until_line(
      monitor, [&] { emit("Again"); },
      [](const std::string& l) { return l.find("\"NameOwnerChanged\"") != std::string::npos; },
      milliseconds(10000));
  ASSERT_TRUE(from_driver) << monitor.transcript();
  auto driver_md = nlohmann::json::parse(*from_driver)["metadata"];
  ASSERT_TRUE(driver_md.is_object()) << *from_driver;
  EXPECT_EQ(driver_md.size(), 1u) << *from_driver;
  EXPECT_TRUE(driver_md.contains("Timestamp")) << *from_driver;
}

TEST_F(MonitorMetadataTest, ReadableLinesShowItemsAfterTheHeader) {
  ChildProcess monitor({kdbusctl_binary(), "--address", address(), "monitor", "--metadata", "--match",
                        "member='Pong'"});
  auto line = repeat_until_line(
      monitor, [&] { emit("Ping"); emit("Pong"); },
      [](const std::string& l) { return l.find("member=Pong") != std::string::npos; }, milliseconds(10000));
  ASSERT_TRUE(line) << monitor.transcript();
  EXPECT_THAT(*line, HasSubstr(" interface=org.kdbusd.CtlMetadata member=Pong signature=\"\" Timestamp=seqnum:"));
  EXPECT_THAT(*line, HasSubstr(" Creds=uid:" + std::to_string(::getuid()) + ","));
  EXPECT_THAT(*line, HasSubstr(" Pids=pid:"));
  EXPECT_THAT(monitor.transcript(), ::testing::Not(HasSubstr("member=Ping"))) << "--match still filters";
}

TEST(MonitorMetadataWithoutBus, FailsWithStatusOne) {
  auto result = kdbusctl({"--address", "unix:path=/nonexistent/kdbusctl-test/bus", "monitor", "--metadata"});
  EXPECT_EQ(result.exit_status, 1) << result.describe();
  EXPECT_THAT(result.err, ::testing::StartsWith("kdbusctl: cannot connect to unix:path=/nonexistent"));
}

}  // namespace
}  // namespace kdbusctl::test
