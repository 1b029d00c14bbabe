// dbus-send and dbus-monitor (libdbus's command-line clients) against the
// bus under test.
#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::HasSubstr;

class DbusSend : public BusTest {
 protected:
  std::vector<std::string> dbus_send(std::initializer_list<std::string> args) const {
    std::vector<std::string> argv{"dbus-send", "--bus=" + address()};
    argv.insert(argv.end(), args);
    return argv;
  }
};

TEST_F(DbusSend, ListNamesPrintReply) {
  SdBusPeer service(address());
  ASSERT_EQ(service.request_name("com.example.Itest.Service").u32(), 1u);
  auto r = run(dbus_send({"--print-reply", "--dest=org.freedesktop.DBus", kDriverPath,
                          "org.freedesktop.DBus.ListNames"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, HasSubstr("method return"));
  EXPECT_THAT(r.out, HasSubstr("array ["));
  EXPECT_THAT(r.out, HasSubstr("string \"org.freedesktop.DBus\""));
  EXPECT_THAT(r.out, HasSubstr("string \"com.example.Itest.Service\""));
}

TEST_F(DbusSend, GetNameOwnerOfMissingName) {
  auto r = run(dbus_send({"--print-reply", "--dest=org.freedesktop.DBus", kDriverPath,
                          "org.freedesktop.DBus.GetNameOwner", "string:com.example.Nobody"}));
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.exit_status, 0) << r.describe();
  EXPECT_THAT(r.err, HasSubstr("Error org.freedesktop.DBus.Error.NameHasNoOwner"));
}

TEST_F(DbusSend, GetNameOwnerOfOwnedName) {
  SdBusPeer service(address());
  ASSERT_EQ(service.request_name("com.example.Itest.Service").u32(), 1u);
  auto r = run(dbus_send({"--print-reply=literal", "--dest=org.freedesktop.DBus", kDriverPath,
                          "org.freedesktop.DBus.GetNameOwner", "string:com.example.Itest.Service"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, HasSubstr(service.unique_name()));
}

TEST_F(DbusSend, SignalReachesSubscriber) {
  SdBusPeer subscriber(address());
  ASSERT_TRUE(subscriber.add_match("type='signal',path='/com/example/Itest'").ok());
  auto r = run(dbus_send({"--type=signal", "/com/example/Itest", "com.example.Itest.Ping",
                          "string:hi", "int32:-5"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  auto got = subscriber.wait_for(is_signal("com.example.Itest", "Ping"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->signature, "si");
  EXPECT_EQ(got->args[0], "hi");
}

TEST_F(DbusSend, DbusMonitorSeesSignal) {
  SdBusPeer emitter(address());
  ChildProcess monitor({"dbus-monitor", "--address", address(),
                        "type='signal',interface='com.example.Itest'"},
                       bus_->client_env());
  auto line = repeat_until_line(
      monitor,
      [&] { run(dbus_send({"--type=signal", "/com/example/Itest", "com.example.Itest.Ping", "string:seen"})); },
      [](const std::string& l) { return l.find("member=Ping") != std::string::npos; },
      milliseconds(10000));
  ASSERT_TRUE(line) << "dbus-monitor printed:\n" << monitor.transcript();
  EXPECT_THAT(*line, HasSubstr("path=/com/example/Itest; interface=com.example.Itest; member=Ping"));
  auto arg = monitor.read_line(milliseconds(5000));
  ASSERT_TRUE(arg);
  EXPECT_THAT(*arg, HasSubstr("string \"seen\""));
}

TEST_F(DbusSend, DbusMonitorSeesMethodCallAndReply) {
  SdBusPeer caller(address());
  ChildProcess monitor({"dbus-monitor", "--address", address()}, bus_->client_env());
  auto line = repeat_until_line(
      monitor, [&] { caller.call_driver("NameHasOwner", "s", "com.example.Probe"); },
      [](const std::string& l) {
        return l.find("method call") != std::string::npos && l.find("member=NameHasOwner") != std::string::npos;
      },
      milliseconds(10000));
  ASSERT_TRUE(line) << "dbus-monitor printed:\n" << monitor.transcript();
  EXPECT_THAT(*line, HasSubstr("sender=" + caller.unique_name()));
  auto reply = monitor.wait_for_line(
      [](const std::string& l) { return l.find("method return") != std::string::npos; }, milliseconds(5000));
  ASSERT_TRUE(reply) << monitor.transcript();
  EXPECT_THAT(*reply, HasSubstr("destination=" + caller.unique_name()));
}

}  // namespace
}  // namespace kdbusd::itest
